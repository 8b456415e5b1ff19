package identity

import (
	"testing"

	"github.com/crmhub/crmhub/hub"
)

func TestCompareIDs(t *testing.T) {
	p := func(tax string, ids ...hub.PersonID) hub.Customer {
		return hub.Customer{Kind: "person", TaxID: tax, Identifiers: ids}
	}
	nid := func(v string) hub.PersonID { return hub.PersonID{Scheme: "national_id", Value: v} }
	for _, tc := range []struct {
		name string
		a, b hub.Customer
		tax  bool
		want IDEvidence
	}{
		{"none", p(""), p("", nid("1")), true, IDNone},
		{"other scheme", p("", nid("1")), p("", hub.PersonID{Scheme: "passport", Value: "1"}), true, IDNone},
		{"equal, spelled apart", p("", nid("12 345-678")), p("", nid("12345678")), true, IDEqual},
		{"scheme case", p("", nid("A1")), p("", hub.PersonID{Scheme: "National_ID", Value: "a1"}), true, IDEqual},
		{"one digit apart", p("", nid("12345678")), p("", nid("12345679")), true, IDNear},
		{"swapped digits", p("", nid("12345678")), p("", nid("12345687")), true, IDNear},
		{"clearly different", p("", nid("12345678")), p("", nid("98765432")), true, IDDiffer},
		{"equal wins over a second differing", p("", nid("1111"), nid("2222")), p("", nid("2222")), true, IDEqual},
		{"tax id as evidence", p("DE111111"), p("DE999999"), true, IDDiffer},
		{"tax id ignored when it vetoes", p("DE111111"), p("DE999999"), false, IDNone},
	} {
		if got := compareIDs(tc.a, tc.b, tc.tax); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIdentifiersAsEvidence(t *testing.T) {
	rec := func(sys, id string, c hub.Customer) Record {
		c.Kind = "person"
		return Record{System: sys, SourceEntity: "customer", SourceID: id, Customer: c}
	}
	nid := func(v string) []hub.PersonID { return []hub.PersonID{{Scheme: "national_id", Value: v}} }
	home := []hub.Address{{Street: "Hauptstr. 5", PostalCode: "10115", City: "Berlin"}}
	moved := []hub.Address{{Street: "Ringweg 9", PostalCode: "10115", City: "Berlin"}}
	other := []hub.Address{{Street: "Ringweg 9", PostalCode: "80331", City: "München"}}
	for _, tc := range []struct {
		name        string
		veto        string
		a, b        hub.Customer
		merged      bool
		wantReviews int
	}{
		{"same id merges a move within the postal code", "", hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", Identifiers: nid("12345678"), Addresses: home},
			hub.Customer{GivenName: "Anna", FamilyName: "Schmitt", Identifiers: nid("12345678"), Addresses: moved}, true, 0},
		// The same national id and a name a typo apart outweigh another
		// town: a move (the Fellegi-Sunter model weighs the addresses;
		// the hand-weighted scorer kept such records apart).
		{"same id across towns merges a move", "", hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", Identifiers: nid("12345678"), Addresses: home},
			hub.Customer{GivenName: "Anna", FamilyName: "Schmitt", Identifiers: nid("12345678"), Addresses: other}, true, 0},
		{"same id, no address, swapped names", "", hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", Identifiers: nid("12345678")},
			hub.Customer{GivenName: "Schmidt", FamilyName: "Anna", Identifiers: nid("12345678")}, true, 0},
		{"different id at one address goes to review", "", hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", Identifiers: nid("12345678"), Addresses: home},
			hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", Identifiers: nid("99999999"), Addresses: home}, false, 1},
		{"id one typo apart still merges", "", hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", Identifiers: nid("12345678"), Addresses: home},
			hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", Identifiers: nid("12345679"), Addresses: home}, true, 0},
		{"person tax ids are evidence by default", "", hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", TaxID: "DE1", Emails: []string{"a@x.de"}},
			hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", TaxID: "DE2", Emails: []string{"a@x.de"}}, true, 0},
		{"veto all keeps person tax ids apart", VetoAll, hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", TaxID: "DE1", Emails: []string{"a@x.de"}},
			hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", TaxID: "DE2", Emails: []string{"a@x.de"}}, false, 0},
	} {
		r := New(Config{Fuzzy: DefaultFuzzy(), TaxIDVeto: tc.veto})
		res := r.Resolve([]Record{rec("erp", "1", tc.a), rec("crm", "2", tc.b)}, nil)
		if got := len(res.Clusters) == 1; got != tc.merged {
			t.Errorf("%s: merged = %v, want %v (reviews %v)", tc.name, got, tc.merged, res.Reviews)
		}
		if len(res.Reviews) != tc.wantReviews {
			t.Errorf("%s: reviews %v, want %d", tc.name, res.Reviews, tc.wantReviews)
		}
	}
}

func TestFirmTaxIDVetoConfigurable(t *testing.T) {
	org := func(id, tax string) Record {
		return Record{System: "erp", SourceEntity: "customer", SourceID: id,
			Customer: hub.Customer{Kind: "organization", OrganizationName: "X", TaxID: tax, Emails: []string{"x@a.de"}}}
	}
	recs := []Record{org("1", "DE1"), org("2", "DE2")}
	if n := len(New(Config{}).Cluster(recs)); n != 2 {
		t.Errorf("default: firms with different tax ids merged (%d clusters)", n)
	}
	if n := len(New(Config{TaxIDVeto: VetoNone}).Cluster(recs)); n != 1 {
		t.Errorf("veto none: %d clusters, want 1", n)
	}
}
