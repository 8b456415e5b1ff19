package identity

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
)

func rec(system, id string, at int, c hub.Customer) Record {
	if c.Kind == "" {
		c.Kind = "person"
	}
	return Record{System: system, SourceEntity: "customers", SourceID: id,
		UpdatedAt: time.Date(2026, 1, 1, 0, at, 0, 0, time.UTC), Customer: c}
}

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct{ in, region, want string }{
		{"+49 30 1234567", "DE", "+49301234567"},
		{"030/1234567", "DE", "+49301234567"},
		{"(030) 123 45 67", "DE", "+49301234567"},
		{"0049 30 1234567", "DE", "+49301234567"},
		{"+1 (415) 555-0100", "DE", "+14155550100"},
		{"", "DE", ""},
	} {
		got, err := NormalizePhone(tc.in, tc.region)
		if err != nil || got != tc.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := NormalizePhone("call me", "DE"); err == nil {
		t.Error("NormalizePhone(garbage) did not fail")
	}
}

func TestNormalizeTaxIDAndEmail(t *testing.T) {
	if got := NormalizeTaxID(" de 123.456-789 "); got != "DE123456789" {
		t.Errorf("tax id: %q", got)
	}
	if got := NormalizeEmail("  Anna.Schmidt@Example.DE "); got != "anna.schmidt@example.de" {
		t.Errorf("email: %q", got)
	}
}

// clusterKeys renders clusters as sorted lists of record keys.
func clusterKeys(cs []Cluster) [][]string {
	var out [][]string
	for _, c := range cs {
		var ks []string
		for _, r := range c.Records {
			ks = append(ks, r.Key())
		}
		out = append(out, ks)
	}
	return out
}

func TestCluster(t *testing.T) {
	org := func(name, tax string) hub.Customer {
		return hub.Customer{Kind: "organization", OrganizationName: name, TaxID: tax}
	}
	for _, tc := range []struct {
		name string
		recs []Record
		want int // number of clusters
	}{
		{"email case", []Record{
			rec("crm", "1", 1, hub.Customer{FamilyName: "Schmidt", Emails: []string{"Anna@Example.de"}}),
			rec("erp", "9", 2, hub.Customer{FamilyName: "Schmidt", Emails: []string{"anna@example.DE"}}),
		}, 1},
		{"phone formats", []Record{
			rec("crm", "1", 1, hub.Customer{FamilyName: "A", Phones: []string{"+49301234567"}}),
			rec("erp", "9", 2, hub.Customer{FamilyName: "A", Phones: []string{"030/1234567"}}),
		}, 1},
		{"tax id spelling", []Record{
			rec("erp", "1", 1, org("ACME", "DE 123.456.789")),
			rec("fin", "2", 2, org("Acme GmbH", "de123456789")),
		}, 1},
		{"xref from crm to erp", []Record{
			rec("erp", "K100", 1, hub.Customer{FamilyName: "Meier"}),
			rec("crm", "c-7", 2, hub.Customer{FamilyName: "Meyer", ExternalIDs: []hub.Ref{{System: "erp", ID: "K100"}}}),
		}, 1},
		{"person never joins organization", []Record{
			rec("crm", "1", 1, hub.Customer{Kind: "person", FamilyName: "Acme", Emails: []string{"info@acme.de"}}),
			rec("erp", "2", 2, hub.Customer{Kind: "organization", OrganizationName: "Acme", Emails: []string{"info@acme.de"}}),
		}, 2},
		{"conflicting tax ids never merge", []Record{
			rec("erp", "1", 1, hub.Customer{Kind: "organization", OrganizationName: "A", TaxID: "DE1", Emails: []string{"x@a.de"}}),
			rec("erp", "2", 2, hub.Customer{Kind: "organization", OrganizationName: "B", TaxID: "DE2", Emails: []string{"x@a.de"}}),
		}, 2},
		{"bridge without tax id joins only one side", []Record{
			rec("erp", "1", 1, hub.Customer{Kind: "organization", OrganizationName: "A", TaxID: "DE1", Emails: []string{"x@a.de"}}),
			rec("crm", "2", 2, hub.Customer{Kind: "organization", OrganizationName: "A", Emails: []string{"x@a.de"}, Phones: []string{"+49301111111"}}),
			rec("erp", "3", 3, hub.Customer{Kind: "organization", OrganizationName: "B", TaxID: "DE2", Phones: []string{"+49301111111"}}),
		}, 2},
		{"transitive chain", []Record{
			rec("a", "1", 1, hub.Customer{FamilyName: "X", Emails: []string{"x@x.de"}}),
			rec("b", "2", 2, hub.Customer{FamilyName: "X", Emails: []string{"x@x.de"}, Phones: []string{"+49301111111"}}),
			rec("c", "3", 3, hub.Customer{FamilyName: "X", Phones: []string{"+49 30 1111111"}}),
		}, 1},
		{"nothing shared", []Record{
			rec("a", "1", 1, hub.Customer{FamilyName: "X", Emails: []string{"x@x.de"}}),
			rec("b", "2", 2, hub.Customer{FamilyName: "X", Emails: []string{"y@x.de"}}),
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{})
			got := r.Cluster(tc.recs)
			if len(got) != tc.want {
				t.Fatalf("got %d clusters %v, want %d", len(got), clusterKeys(got), tc.want)
			}
			// Order independence: every permutation gives the same clusters and ids.
			rng := rand.New(rand.NewPCG(1, 2))
			for range 20 {
				sh := append([]Record(nil), tc.recs...)
				rng.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
				again := r.Cluster(sh)
				if !reflect.DeepEqual(clusterKeys(again), clusterKeys(got)) || again[0].ID != got[0].ID {
					t.Fatalf("order changed the result: %v vs %v", clusterKeys(again), clusterKeys(got))
				}
			}
		})
	}
}

func TestSurvive(t *testing.T) {
	limit := &hub.Money{Amount: "5000.00", Currency: "EUR"}
	recs := []Record{
		rec("fin", "1", 1, hub.Customer{FamilyName: "Schmidt", GivenName: "Anna", CreditLimit: limit,
			Emails: []string{"anna@example.de"}, Phones: []string{"+49301234567"}}),
		rec("crm", "2", 5, hub.Customer{FamilyName: "Schmidt-Berg", Emails: []string{"ANNA@example.de", "a.s@work.de"},
			CreditLimit: &hub.Money{Amount: "1.00", Currency: "EUR"}}),
	}
	r := New(Config{FieldPriority: map[string][]string{"credit_limit": {"fin"}}})
	g, lin := r.Survive(recs)
	if g.FamilyName != "Schmidt-Berg" || lin["family_name"].Rule != RuleMostRecent || lin["family_name"].Source != "crm/customers/2" {
		t.Errorf("family_name %q lineage %+v", g.FamilyName, lin["family_name"])
	}
	if g.GivenName != "Anna" || lin["given_name"].Source != "fin/customers/1" {
		t.Errorf("given_name %q from %+v: the most recent non-empty value must win", g.GivenName, lin["given_name"])
	}
	if g.CreditLimit == nil || g.CreditLimit.Amount != "5000.00" || lin["credit_limit"].Rule != RulePriority {
		t.Errorf("credit_limit %+v lineage %+v: fin has priority", g.CreditLimit, lin["credit_limit"])
	}
	if want := []string{"anna@example.de", "a.s@work.de"}; !reflect.DeepEqual(g.Emails, want) {
		t.Errorf("emails %v want %v", g.Emails, want)
	}
	if len(g.ExternalIDs) != 2 || lin["emails"].Rule != RuleUnion {
		t.Errorf("external ids %v lineage %+v", g.ExternalIDs, lin["emails"])
	}
	// Survivorship is a function of the set.
	g2, lin2 := r.Survive([]Record{recs[1], recs[0]})
	if !reflect.DeepEqual(g, g2) || !reflect.DeepEqual(lin, lin2) {
		t.Error("survivorship depends on input order")
	}
}

func TestSurviveFieldRules(t *testing.T) {
	recs := []Record{
		rec("erp", "1", 1, hub.Customer{GivenName: "Anna-Lena", Segment: "A"}),
		rec("crm", "2", 5, hub.Customer{GivenName: "Anna", Segment: "B"}),
		rec("svc", "3", 9, hub.Customer{Segment: "C"}),
	}
	r := New(Config{FieldRule: map[string]string{"given_name": RuleComplete, "segment": RuleEarliest}})
	g, lin := r.Survive(recs)
	if g.GivenName != "Anna-Lena" || lin["given_name"].Rule != RuleComplete {
		t.Errorf("most complete given_name: %q %+v", g.GivenName, lin["given_name"])
	}
	if g.Segment != "A" || lin["segment"].Rule != RuleEarliest || lin["segment"].Source != "erp/customers/1" {
		t.Errorf("earliest segment: %q %+v", g.Segment, lin["segment"])
	}
	if d, _ := New(Config{}).Survive(recs); d.GivenName != "Anna" || d.Segment != "C" {
		t.Errorf("default most recent: %q %q", d.GivenName, d.Segment)
	}
}
