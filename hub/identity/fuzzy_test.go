package identity

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/crmhub/crmhub/hub"
)

func TestColognePhonetic(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"Meier", "Meyer"}, {"Meier", "Maier"}, {"Schmidt", "Schmitt"}, {"Müller", "Mueller"}, {"Wikipedia", "Wikipedia"},
	} {
		if ca, cb := ColognePhonetic(tc.a), ColognePhonetic(tc.b); ca != cb || ca == "" {
			t.Errorf("%s=%q %s=%q, want equal codes", tc.a, ca, tc.b, cb)
		}
	}
	if got := ColognePhonetic("Wikipedia"); got != "3412" {
		t.Errorf("Wikipedia = %q, want 3412 (the reference example)", got)
	}
	if ColognePhonetic("Meier") == ColognePhonetic("Schulz") {
		t.Error("different names share a code")
	}
}

func addr(street, postal string) []hub.Address {
	return []hub.Address{{Street: street, PostalCode: postal, City: "Berlin", Country: "DE"}}
}

func TestFuzzy(t *testing.T) {
	r := New(Config{Fuzzy: DefaultFuzzy()})
	for _, tc := range []struct {
		name     string
		recs     []Record
		clusters int
		reviews  int
	}{
		{"spelling variant, same address: merge", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: addr("Hauptstraße 5", "10115")}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Anna", FamilyName: "Meyer", Addresses: addr("Hauptstr. 5", "10115")}),
		}, 1, 0},
		{"same name, other street: review", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: addr("Hauptstraße 5", "10115")}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: addr("Gartenweg 19", "10115")}),
		}, 2, 1},
		{"name alone neither merges nor reaches review", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Emails: []string{"anna@firma.de"}}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Emails: []string{"a.meier@firma.de"}}),
		}, 2, 0},
		{"mistyped e-mail, same name, one address: merge", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "renate", FamilyName: "Öztürk", Emails: []string{"Renate.Oztuerk81@web.de"}}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Renate", FamilyName: "Oeztuerk", Emails: []string{"renate.oeztuerk81@web.de"}, Addresses: addr("Hauptstraße 5", "10115")}),
		}, 1, 0},
		{"mistyped e-mail, letters swapped: merge", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Emails: []string{"anna.meier@gmx.de"}}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Emails: []string{"anna.meeir@gmx.de"}}),
		}, 1, 0},
		{"namesakes' addresses differ in a digit or separator: apart", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Hans", FamilyName: "Müller", Emails: []string{"hans.mueller@gmx.de"}}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Hans", FamilyName: "Müller", Emails: []string{"hans.mueller2@gmx.de"}}),
			rec("fin", "3", 3, hub.Customer{GivenName: "Hans", FamilyName: "Müller", Emails: []string{"hansmueller@gmx.de"}}),
			rec("svc", "4", 4, hub.Customer{GivenName: "Hans", FamilyName: "Müller", Emails: []string{"hans.mueller@gmx.at"}}),
		}, 4, 0},
		{"one letter apart with names one letter apart (Meier, Meyer): review", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Emails: []string{"anna.meier@gmx.de"}}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Anna", FamilyName: "Meyer", Emails: []string{"anna.meyer@gmx.de"}}),
		}, 2, 1},
		{"mistyped phone digit, same name: merge", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Phones: []string{"+4915112345678"}}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Phones: []string{"+4915112345687"}, Addresses: addr("Hauptstraße 5", "10115")}),
		}, 1, 0},
		{"mistyped phone and family name: merge", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Wagnern", Phones: []string{"+4930123456789"}}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Anna", FamilyName: "Wagner", Phones: []string{"+4930123456780"}}),
		}, 1, 0},
		{"phones one digit apart, other given name: review", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Phones: []string{"+49931863057"}}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Hanna", FamilyName: "Meier", Phones: []string{"+49931868057"}}),
		}, 2, 1},
		{"phones one digit apart, other family name: apart or review", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Katharina", FamilyName: "Wimmer", Phones: []string{"+49931863057"}}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Katharina", FamilyName: "Hoffmann", Phones: []string{"+49931868057"}}),
		}, 2, -1},
		{"given name missing, mistyped e-mail, the other address spells the name: merge", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Jörg", FamilyName: "Brändli", Emails: []string{"joerg.braendl@a1.net"}}),
			rec("erp", "2", 2, hub.Customer{FamilyName: "Brändli", Emails: []string{"joerg.braendli@a1.net"}, Addresses: addr("Ringstraße 81", "4022")}),
		}, 1, 0},
		{"a mistyped-looking e-mail never joins customers at different addresses: review", []Record{
			// the CRM contact is Sepp Schmidt, his name mistyped; Sepp Schmitt is someone else
			rec("crm", "1", 1, hub.Customer{GivenName: "Sepp", FamilyName: "Schmitt", Emails: []string{"s.schmidt@icloud.com"}}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Sepp", FamilyName: "Schmidt", Emails: []string{"s.schmidt@icloud.com"}, Addresses: addr("Bergstraße 98", "80607")}),
			rec("erp", "3", 3, hub.Customer{GivenName: "Sepp", FamilyName: "Schmitt", Emails: []string{"s.schmitt@icloud.com"}, Addresses: addr("Schulstr. 34c", "11258")}),
			// Both pairs across the two customers are candidates: the
			// held link and Schmidt/Schmitt one e-mail letter apart.
		}, 2, 2},
		{"given name missing, phone one digit apart: a relative's landline, review", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Lena", FamilyName: "Schmid", Phones: []string{"+491795127968"}}),
			rec("erp", "2", 2, hub.Customer{FamilyName: "Schmid", Phones: []string{"+491795129768"}, Addresses: addr("Goethestr. 54", "37074")}),
		}, 2, 1},
		{"different people in one block", []Record{
			rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: addr("Hauptstraße 5", "10115")}),
			rec("erp", "2", 2, hub.Customer{GivenName: "Klaus", FamilyName: "Mayr", Addresses: addr("Lindenallee 80", "10115")}),
		}, 2, 0},
		{"organizations with legal forms", []Record{
			rec("erp", "1", 1, hub.Customer{Kind: "organization", OrganizationName: "Müller Bau GmbH", Addresses: addr("Industriestr. 3", "12345")}),
			rec("fin", "2", 2, hub.Customer{Kind: "organization", OrganizationName: "Mueller Bau", Addresses: addr("Industriestraße 3", "12345")}),
		}, 1, 0},
		{"a VAT id with two digits swapped is the same id mistyped: merge", []Record{
			rec("erp", "1", 1, hub.Customer{Kind: "organization", OrganizationName: "Müller Bau GmbH", TaxID: "DE123456789", Addresses: addr("Industriestr. 3", "12345")}),
			rec("fin", "2", 2, hub.Customer{Kind: "organization", OrganizationName: "Mueller Bau", TaxID: "DE123456879", Addresses: addr("Industriestraße 3", "12345")}),
		}, 1, 0},
		{"VAT ids two changes apart still veto", []Record{
			rec("erp", "1", 1, hub.Customer{Kind: "organization", OrganizationName: "Müller Bau GmbH", TaxID: "DE123456789", Addresses: addr("Industriestr. 3", "12345")}),
			rec("fin", "2", 2, hub.Customer{Kind: "organization", OrganizationName: "Mueller Bau", TaxID: "DE123456700", Addresses: addr("Industriestraße 3", "12345")}),
		}, 2, 0},
		{"fuzzy never crosses tax ids", []Record{
			rec("erp", "1", 1, hub.Customer{Kind: "organization", OrganizationName: "Müller Bau GmbH", TaxID: "DE1", Addresses: addr("Industriestr. 3", "12345")}),
			rec("fin", "2", 2, hub.Customer{Kind: "organization", OrganizationName: "Mueller Bau", TaxID: "DE2", Addresses: addr("Industriestraße 3", "12345")}),
		}, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r.Resolve(tc.recs, nil)
			// reviews -1: apart or review, either is right.
			if len(res.Clusters) != tc.clusters || tc.reviews >= 0 && len(res.Reviews) != tc.reviews || tc.reviews < 0 && len(res.Reviews) > 1 {
				t.Fatalf("%d clusters, reviews %+v; want %d clusters, %d reviews", len(res.Clusters), res.Reviews, tc.clusters, tc.reviews)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			for range 10 {
				sh := append([]Record(nil), tc.recs...)
				rng.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
				if again := r.Resolve(sh, nil); !reflect.DeepEqual(clusterKeys(again.Clusters), clusterKeys(res.Clusters)) || !reflect.DeepEqual(again.Reviews, res.Reviews) {
					t.Fatal("result depends on order")
				}
			}
		})
	}
	// Without fuzzy matching the spelling variant stays apart.
	plain := New(Config{})
	if got := plain.Cluster([]Record{
		rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: addr("Hauptstraße 5", "10115")}),
		rec("erp", "2", 2, hub.Customer{GivenName: "Anna", FamilyName: "Meyer", Addresses: addr("Hauptstr. 5", "10115")}),
	}); len(got) != 2 {
		t.Fatalf("deterministic only: %d clusters", len(got))
	}
}

func TestRules(t *testing.T) {
	r := New(Config{})
	a := rec("crm", "1", 1, hub.Customer{FamilyName: "A", Emails: []string{"x@x.de"}})
	b := rec("erp", "2", 2, hub.Customer{FamilyName: "B", Emails: []string{"x@x.de"}})
	c := rec("svc", "3", 3, hub.Customer{FamilyName: "C", Phones: []string{"+49301111111"}})
	if got := r.Resolve([]Record{a, b, c}, []Rule{{Kind: RuleNeverMerge, A: a.Key(), B: b.Key()}}); len(got.Clusters) != 3 {
		t.Fatalf("never-merge: %v", clusterKeys(got.Clusters))
	}
	got := r.Resolve([]Record{a, b, c}, []Rule{{Kind: RuleForceMerge, A: c.Key(), B: a.Key()}})
	if len(got.Clusters) != 1 {
		t.Fatalf("force-merge: %v", clusterKeys(got.Clusters))
	}
	// Never-merge holds against a bridge through a third record.
	got = r.Resolve([]Record{a, b, c}, []Rule{{Kind: RuleNeverMerge, A: b.Key(), B: c.Key()}, {Kind: RuleForceMerge, A: a.Key(), B: c.Key()}})
	if len(got.Clusters) != 2 {
		t.Fatalf("force + never: %v", clusterKeys(got.Clusters))
	}
}

func TestRejectedReviewLeavesQueue(t *testing.T) {
	r := New(Config{Fuzzy: DefaultFuzzy()})
	a := rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: addr("Hauptstraße 5", "10115")})
	b := rec("erp", "2", 2, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: addr("Gartenweg 19", "10115")})
	if got := r.Resolve([]Record{a, b}, nil); len(got.Reviews) != 1 {
		t.Fatalf("reviews %+v", got.Reviews)
	}
	if got := r.Resolve([]Record{a, b}, []Rule{{Kind: RuleNeverMerge, A: a.Key(), B: b.Key()}}); len(got.Reviews) != 0 || len(got.Clusters) != 2 {
		t.Fatalf("after reject: %+v", got)
	}
	if got := r.Resolve([]Record{a, b}, []Rule{{Kind: RuleForceMerge, A: a.Key(), B: b.Key()}}); len(got.Reviews) != 0 || len(got.Clusters) != 1 {
		t.Fatalf("after accept: %+v", got)
	}
}

func TestForceMergeAcrossTaxIDsKeepsEveryMember(t *testing.T) {
	r := New(Config{})
	org := func(tax, email string) hub.Customer {
		return hub.Customer{Kind: "organization", OrganizationName: "X", TaxID: tax, Emails: []string{email}}
	}
	a1 := rec("erp", "1", 1, org("DE1", "a@x.de"))
	a2 := rec("fin", "1", 1, org("DE1", "a@x.de"))
	b1 := rec("erp", "2", 1, org("DE2", "b@x.de"))
	b2 := rec("fin", "2", 1, org("DE2", "b@x.de"))
	got := r.Resolve([]Record{a1, a2, b1, b2}, []Rule{{Kind: RuleForceMerge, A: a1.Key(), B: b1.Key()}})
	if len(got.Clusters) != 1 {
		t.Fatalf("force-merge across tax ids: %v", clusterKeys(got.Clusters))
	}
}

func TestEmailsSpellName(t *testing.T) {
	for _, tc := range []struct {
		email, given, family string
		want                 bool
	}{
		{"hans.mueller@gmx.de", "hans", "mueller", true},
		{"Hans.Mueller@GMX.de", "hans", "mueller", true},
		{"mueller_hans@web.de", "hans", "mueller", true},
		{"hansmueller75@web.de", "hans", "mueller", true},
		{"hans-mueller@web.de", "hans", "mueller", true},
		{" hans.müller@web.de ", "hans", "mueller", true}, // umlaut in the address folds too
		{"h.mueller@gmx.de", "hans", "mueller", false},    // an initial fits every relative
		{"mueller@gmx.de", "hans", "mueller", false},
		{"hans.meier@gmx.de", "hans", "mueller", false},
		{"hannes.mueller@gmx.de", "hans", "mueller", false},
		{"not-an-address", "hans", "mueller", false},
		{"hans.mueller@gmx.de", "", "mueller", false},
	} {
		if got := emailsSpellName([]string{tc.email}, tc.given, tc.family); got != tc.want {
			t.Errorf("emailsSpellName(%q, %q, %q) = %v, want %v", tc.email, tc.given, tc.family, got, tc.want)
		}
	}
}

func TestPersonNameScore(t *testing.T) {
	for _, tc := range []struct {
		name     string
		a, b     hub.Customer
		min, max float64
		ok       bool
	}{
		{"transliteration", hub.Customer{GivenName: "Jürgen", FamilyName: "Müller"}, hub.Customer{GivenName: "JUERGEN", FamilyName: "MUELLER"}, 1, 1, true},
		{"word order of a full name", hub.Customer{FullName: "Müller, Hans"}, hub.Customer{GivenName: "Hans", FamilyName: "Müller"}, 0.99, 1, true},
		{"given name missing, e-mail spells it", hub.Customer{FamilyName: "Stein", FullName: "Stein", Emails: []string{"stein.annika@gmail.com"}},
			hub.Customer{GivenName: "Annika", FamilyName: "Stein"}, 1, 1, true},
		{"given name missing, e-mail spells another", hub.Customer{FamilyName: "Stein", Emails: []string{"stein.peter@gmail.com"}},
			hub.Customer{GivenName: "Annika", FamilyName: "Stein"}, 1, 1, false},
		{"given name missing, no e-mail", hub.Customer{FamilyName: "Stein"}, hub.Customer{GivenName: "Annika", FamilyName: "Stein"}, 1, 1, false},
		{"both without given name", hub.Customer{FamilyName: "Stein"}, hub.Customer{FamilyName: "Stein"}, 1, 1, false},
		{"different family", hub.Customer{FamilyName: "Stein", Emails: []string{"annika.stein@gmx.de"}}, hub.Customer{GivenName: "Annika", FamilyName: "Berger"}, 0, 0.7, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, swap := range []bool{false, true} {
				a, b := tc.a, tc.b
				if swap {
					a, b = b, a
				}
				s, ok := personNameScore(a, b)
				if s < tc.min || s > tc.max || ok != tc.ok {
					t.Errorf("swap %v: score %.3f ok %v, want %.2f..%.2f ok %v", swap, s, ok, tc.min, tc.max, tc.ok)
				}
			}
		})
	}
}

func TestFuzzyMissingFields(t *testing.T) {
	r := New(Config{Fuzzy: DefaultFuzzy()})
	noCountry := []hub.Address{{Street: "Bahnhofplatz 150", PostalCode: "21006", City: "Hamburg"}}
	for _, tc := range []struct {
		name     string
		recs     []Record
		clusters int
	}{
		{"organization without country meets one with", []Record{
			rec("erp", "1", 1, hub.Customer{Kind: "organization", OrganizationName: "Kältetechnik Vogel OHG", TaxID: "DE177815322", Addresses: noCountry}),
			rec("fin", "2", 2, hub.Customer{Kind: "organization", OrganizationName: "Kältetechnik Vogel OHG", Addresses: addr("Bahnhofplatz 150", "21006")}),
		}, 1},
		{"namesake organizations at different addresses", []Record{
			rec("erp", "1", 1, hub.Customer{Kind: "organization", OrganizationName: "Vogel OHG", Addresses: noCountry}),
			rec("fin", "2", 2, hub.Customer{Kind: "organization", OrganizationName: "Vogel OHG", Addresses: addr("Lindenstraße 3", "21006")}),
		}, 2},
		{"given name missing, e-mail spells it, same address", []Record{
			rec("erp", "1", 1, hub.Customer{FamilyName: "Stein", FullName: "Stein", Emails: []string{"stein.annika@gmail.com"}, Addresses: addr("Grüner Weg 149", "90562")}),
			rec("fin", "2", 2, hub.Customer{GivenName: "Annika", FamilyName: "Stein", Addresses: addr("Grüner Weg 149", "90562")}),
		}, 1},
		{"given name missing, no e-mail: a relative at the same address stays apart", []Record{
			rec("erp", "1", 1, hub.Customer{FamilyName: "Stein", Addresses: addr("Grüner Weg 149", "90562")}),
			rec("fin", "2", 2, hub.Customer{GivenName: "Annika", FamilyName: "Stein", Addresses: addr("Grüner Weg 149", "90562")}),
		}, 2},
		{"given name missing, e-mail spells it, other address", []Record{
			rec("erp", "1", 1, hub.Customer{FamilyName: "Stein", Emails: []string{"annika.stein@gmail.com"}, Addresses: addr("Grüner Weg 149", "90562")}),
			rec("fin", "2", 2, hub.Customer{GivenName: "Annika", FamilyName: "Stein", Addresses: addr("Hauptstraße 2", "10115")}),
		}, 2},
		{"given name missing, e-mail spells it, other street in the same postal code", []Record{
			rec("erp", "1", 1, hub.Customer{FamilyName: "Walter", Emails: []string{"michael.walter95@icloud.com"}, Addresses: addr("Bergstraße 154", "90765")}),
			rec("fin", "2", 2, hub.Customer{GivenName: "Michael", FamilyName: "Walter", Addresses: addr("Goethestraße 172", "90765")}),
		}, 2},
		{"namesakes in one postal code, alike streets, other house numbers", []Record{
			rec("erp", "1", 1, hub.Customer{GivenName: "Michael", FamilyName: "Walter", Addresses: addr("Bergstraße 154", "90765")}),
			rec("fin", "2", 2, hub.Customer{GivenName: "Michael", FamilyName: "Walter", Addresses: addr("Goethestraße 172", "90765")}),
		}, 2},
		{"namesakes at different addresses", []Record{
			rec("erp", "1", 1, hub.Customer{GivenName: "Markus", FamilyName: "Wagner", Addresses: addr("Eichendorffstraße 82", "37078")}),
			rec("fin", "2", 2, hub.Customer{GivenName: "Markus", FamilyName: "Wagner", Addresses: addr("Gartenweg 5", "37078")}),
		}, 2},
		{"same name, one without address: never merges on the name", []Record{
			rec("fin", "1", 1, hub.Customer{GivenName: "Markus", FamilyName: "Wagner", Addresses: addr("Eichendorffstraße 82", "37078")}),
			rec("crm", "2", 2, hub.Customer{GivenName: "Markus", FamilyName: "Wagner", Emails: []string{"markus_wagner@t-online.de"}}),
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, recs := range [][]Record{tc.recs, {tc.recs[1], tc.recs[0]}} {
				if got := r.Resolve(recs, nil); len(got.Clusters) != tc.clusters {
					t.Fatalf("%d clusters, want %d", len(got.Clusters), tc.clusters)
				}
			}
		})
	}
}

func TestBlockKeys(t *testing.T) {
	share := func(a, b hub.Customer) bool {
		ka := map[string]bool{}
		for _, k := range blockKeys(a, "DE", true) {
			ka[k] = true
		}
		for _, k := range blockKeys(b, "DE", true) {
			if ka[k] {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		name string
		a, b hub.Customer
		want bool
	}{
		{"transliterated, same postal code", hub.Customer{GivenName: "Jürgen", FamilyName: "Müller", Addresses: addr("A 1", "10115")},
			hub.Customer{GivenName: "JUERGEN", FamilyName: "MUELLER", Addresses: addr("B 2", "10115")}, true},
		{"same sound, same e-mail domain", hub.Customer{GivenName: "Anna", FamilyName: "Meier", Emails: []string{"anna.meier@gmx.de"}},
			hub.Customer{GivenName: "Anna", FamilyName: "Meyer", Emails: []string{"a.m@GMX.de"}}, true},
		{"given name spelled by the e-mail", hub.Customer{FamilyName: "Stein", Emails: []string{"stein_annika75@gmx.de"}},
			hub.Customer{GivenName: "Annika", FamilyName: "Stein", Emails: []string{"annika.stien@gmx.de"}}, true},
		{"phone prefix and family name", hub.Customer{GivenName: "Anna", FamilyName: "Meier", Phones: []string{"+4915112345678"}},
			hub.Customer{GivenName: "A.", FamilyName: "Meyer", Phones: []string{"0151 1234 5687"}}, true},
		{"phone prefix and given name, family name mistyped", hub.Customer{GivenName: "Anna", FamilyName: "Wagnern", Phones: []string{"+4930123456789"}},
			hub.Customer{GivenName: "Anna", FamilyName: "Wagner", Phones: []string{"+4930123456780"}}, true},
		// Namesakes share the phonetic name block (capped by MaxBlock);
		// the scorer never merges on a name alone.
		{"same name, nothing else", hub.Customer{GivenName: "Anna", FamilyName: "Meier"}, hub.Customer{GivenName: "Anna", FamilyName: "Meier"}, true},
		{"swapped given and family name", hub.Customer{GivenName: "Anna", FamilyName: "Schmidt"}, hub.Customer{GivenName: "Schmidt", FamilyName: "Anna"}, true},
		{"family name's first letter mistyped", hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", Addresses: addr("A 1", "10115")},
			hub.Customer{GivenName: "Anna", FamilyName: "Chmidt", Addresses: addr("B 1", "10115")}, true},
		{"birth date, names and postcode mistyped", hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", BirthDate: "1980-04-12", Addresses: addr("A 1", "10115")},
			hub.Customer{GivenName: "Ana", FamilyName: "Xchmidt", BirthDate: "1980-04-12", Addresses: addr("A 1", "10116")}, true},
		{"street and number, no family name, wrong postcode", hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", Addresses: addr("40 Dock Road", "2000")},
			hub.Customer{GivenName: "Anna", Addresses: addr("Dock Rd 40", "2001")}, true},
		{"same national id", hub.Customer{GivenName: "Anna", Identifiers: []hub.PersonID{{Scheme: "ssn", Value: "123-45-6789"}}},
			hub.Customer{FamilyName: "Zorn", Identifiers: []hub.PersonID{{Scheme: "SSN", Value: "123456789"}}}, true},
		{"other name, other e-mail domain", hub.Customer{GivenName: "Anna", FamilyName: "Meier", Emails: []string{"anna.meier@gmx.de"}},
			hub.Customer{GivenName: "Berta", FamilyName: "Kunz", Emails: []string{"anna.meier@web.de"}}, false},
		{"organization without country", hub.Customer{Kind: "organization", OrganizationName: "Vogel OHG", Addresses: []hub.Address{{PostalCode: "21006"}}},
			hub.Customer{Kind: "organization", OrganizationName: "Vogel GmbH", Addresses: []hub.Address{{PostalCode: "21006", Country: "DE"}}}, true},
		{"other given name", hub.Customer{GivenName: "Reto", FamilyName: "Aigner", Emails: []string{"r@gmx.de"}},
			hub.Customer{GivenName: "Lea", FamilyName: "Aigner", Emails: []string{"l@gmx.de"}}, false},
		{"other names, other street", hub.Customer{GivenName: "Reto", FamilyName: "Aigner", Addresses: addr("A 1", "10115")},
			hub.Customer{GivenName: "Lea", FamilyName: "Berger", Addresses: addr("B 2", "10115")}, false},
		{"organization elsewhere", hub.Customer{Kind: "organization", OrganizationName: "Vogel OHG", Addresses: []hub.Address{{PostalCode: "21006"}}},
			hub.Customer{Kind: "organization", OrganizationName: "Vogel OHG", Addresses: []hub.Address{{PostalCode: "80331"}}}, false},
	} {
		if got := share(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: share a block = %v, want %v (%v / %v)", tc.name, got, tc.want, blockKeys(tc.a, "DE", true), blockKeys(tc.b, "DE", true))
		}
	}
}

func TestOneEditApart(t *testing.T) {
	for _, tc := range []struct {
		x, y string
		want bool
	}{
		{"oeztuerk", "oztuerk", true}, // dropped
		{"anna", "annna", true},       // doubled
		{"meier", "meeir", true},      // swapped
		{"meier", "meyer", true},      // changed
		{"meier", "meier", false},     // equal
		{"hans.mueller", "hansmueller", false},
		{"hans.mueller", "hans_mueller", false},
		{"hans.mueller", "hans.mueller2", false},
		{"mueller81", "mueller18", false}, // digits swapped: not a letter typo
		{"meier", "maiar", false},         // two changes
		{"ab", "ba", true},
		{"", "a", true},
	} {
		for _, swap := range []bool{false, true} {
			x, y := tc.x, tc.y
			if swap {
				x, y = y, x
			}
			if got := oneEditApart(x, y, isLetter); got != tc.want {
				t.Errorf("oneEditApart(%q, %q, letters) = %v, want %v", x, y, got, tc.want)
			}
		}
	}
	for _, tc := range []struct {
		x, y string
		want bool
	}{
		{"+4930123456789", "+4930123456798", true},
		{"+4930123456789", "+4930123456780", true},
		{"+4930123456789", "+4930123456", false},
		{"+4930123456789", "+4930123465798", false},
	} {
		if got := len(tc.x) == len(tc.y) && oneEditApart(tc.x, tc.y, isDigit); got != tc.want {
			t.Errorf("phones %q, %q one digit apart = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}

func TestSpelledGiven(t *testing.T) {
	for local, want := range map[string]string{
		"stein.annika": "annika", "annika_stein75": "annika", "annikastein": "annika", "a.stein": "a",
		"stein": "", "bergerannika": "", "annika.steiner": "",
	} {
		if got := spelledGiven(local, "stein"); got != want {
			t.Errorf("spelledGiven(%q, stein) = %q, want %q", local, got, want)
		}
	}
}

func TestHouseNumber(t *testing.T) {
	for in, want := range map[string]string{"Bergstraße 154": "154", "Lindenstr. 141a": "141a", "Am Markt": "", "": "", "Gewerbepark Süd 39": "39", "40 Dock Road": "40", "0 Dock Road": "0", "Unit 2, 11 Yampi Place": "11"} {
		if got := houseNumber(in); got != want {
			t.Errorf("houseNumber(%q) = %q, want %q", in, got, want)
		}
	}
}
