package identity

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub"
)

// TestSharedContactIsEvidence: an exact e-mail address or phone number
// shared by two persons joins them only where the person model does not
// say they are different people (issue #15: spouses share a mailbox, a
// household its landline, employees the switchboard number).
func TestSharedContactIsEvidence(t *testing.T) {
	home := []hub.Address{{Street: "Hauptstr. 5", PostalCode: "10115", City: "Berlin", Country: "DE"}}
	other := []hub.Address{{Street: "Lindenweg 17", PostalCode: "80331", City: "München", Country: "DE"}}
	const mail, landline = "familie.schmidt@example.de", "+49301234567"
	anna := hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", BirthDate: "1980-03-12", Gender: "female", Addresses: home}
	peter := hub.Customer{GivenName: "Peter", FamilyName: "Schmidt", BirthDate: "1977-07-01", Gender: "male", Addresses: home}
	with := func(c hub.Customer, emails, phones []string) hub.Customer {
		c.Emails, c.Phones = emails, phones
		return c
	}
	byMail, byPhone := []string{mail}, []string{landline}
	for _, tc := range []struct {
		name     string
		recs     []Record
		clusters [][]string // record keys per cluster, sorted
		reviews  [][2]string
	}{
		{"spouses sharing an e-mail stay apart and are reviewed", []Record{
			rec("crm", "1", 1, with(anna, byMail, nil)),
			rec("shop", "1", 2, with(peter, byMail, nil)),
		}, [][]string{{"crm/customers/1"}, {"shop/customers/1"}}, [][2]string{{"crm/customers/1", "shop/customers/1"}}},
		{"a household's landline: apart and reviewed", []Record{
			rec("crm", "1", 1, with(anna, nil, byPhone)),
			rec("shop", "1", 2, with(peter, nil, byPhone)),
		}, [][]string{{"crm/customers/1"}, {"shop/customers/1"}}, [][2]string{{"crm/customers/1", "shop/customers/1"}}},
		{"one person, a typo in the family name, the same e-mail: merged", []Record{
			rec("crm", "1", 1, with(anna, byMail, nil)),
			rec("shop", "1", 2, with(hub.Customer{GivenName: "Anna", FamilyName: "Schmitd", BirthDate: "1980-03-12", Addresses: home}, byMail, nil)),
		}, [][]string{{"crm/customers/1", "shop/customers/1"}}, nil},
		{"one person moved, the same e-mail: merged", []Record{
			rec("crm", "1", 1, with(anna, byMail, nil)),
			rec("shop", "1", 2, with(hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", Addresses: other}, byMail, nil)),
		}, [][]string{{"crm/customers/1", "shop/customers/1"}}, nil},
		{"only an e-mail and a full name: joined as before", []Record{
			rec("crm", "1", 1, with(anna, byMail, nil)),
			rec("news", "1", 2, hub.Customer{FullName: "Anna Schmidt", Emails: byMail}),
		}, [][]string{{"crm/customers/1", "news/customers/1"}}, nil},
		{"only an e-mail: nothing speaks against, joined", []Record{
			rec("crm", "1", 1, with(anna, byMail, nil)),
			rec("news", "1", 2, hub.Customer{Emails: byMail}),
		}, [][]string{{"crm/customers/1", "news/customers/1"}}, nil},
		{"everything disagrees but the e-mail: apart, below review", []Record{
			rec("crm", "1", 1, with(anna, byMail, nil)),
			rec("shop", "1", 2, with(hub.Customer{GivenName: "Kevin", FamilyName: "Yilmaz", BirthDate: "1999-11-30", Gender: "male",
				Addresses: other}, byMail, nil)),
		}, [][]string{{"crm/customers/1"}, {"shop/customers/1"}}, nil},
		{"a record without a name does not bridge two people", []Record{
			rec("crm", "1", 1, with(anna, byMail, nil)),
			rec("news", "1", 2, hub.Customer{Emails: byMail}),
			rec("shop", "1", 3, with(peter, byMail, nil)),
		}, [][]string{{"crm/customers/1", "news/customers/1"}, {"shop/customers/1"}}, [][2]string{{"crm/customers/1", "shop/customers/1"}}},
		{"two copies with other typos in the given name join through the original", []Record{
			rec("crm", "1", 1, with(hub.Customer{GivenName: "Camille", FamilyName: "Robert", BirthDate: "1991-08-07", Addresses: home}, byMail, byPhone)),
			rec("erp", "1", 2, with(hub.Customer{GivenName: "Cmaille", FamilyName: "Robert", BirthDate: "1991-08-07", Addresses: home}, byMail, byPhone)),
			rec("shop", "1", 3, with(hub.Customer{GivenName: "Camilel", FamilyName: "Robert", BirthDate: "1991-08-07", Addresses: home}, byMail, byPhone)),
		}, [][]string{{"crm/customers/1", "erp/customers/1", "shop/customers/1"}}, nil},
		{"an external id joins whatever the model says", []Record{
			rec("crm", "1", 1, with(anna, byMail, nil)),
			rec("shop", "1", 2, with(func() hub.Customer { c := peter; c.ExternalIDs = []hub.Ref{{System: "crm", ID: "1"}}; return c }(), byMail, nil)),
		}, [][]string{{"crm/customers/1", "shop/customers/1"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{Fuzzy: DefaultFuzzy()})
			res := r.Resolve(tc.recs, nil)
			if got := sortedClusters(res.Clusters); !reflect.DeepEqual(got, tc.clusters) {
				t.Errorf("clusters %v, want %v", got, tc.clusters)
			}
			var reviews [][2]string
			for _, c := range res.Reviews {
				reviews = append(reviews, [2]string{c.A, c.B})
			}
			if !reflect.DeepEqual(reviews, tc.reviews) {
				t.Errorf("reviews %v, want %v", reviews, tc.reviews)
			}
			// The result is a function of the record set.
			rng := rand.New(rand.NewPCG(1, 2))
			for range 5 {
				shuffled := append([]Record(nil), tc.recs...)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if again := r.Resolve(shuffled, nil); !reflect.DeepEqual(again, res) {
					t.Fatalf("another order gave %v, want %v", again, res)
				}
			}
		})
	}
}

// TestSharedContactLargeGroup: a number more records share than MaxBlock
// (a switchboard) joins nothing by itself; the fuzzy links still join the
// records that are one person.
func TestSharedContactLargeGroup(t *testing.T) {
	f := DefaultFuzzy()
	f.MaxBlock = 3
	board := []string{"+49891234500"}
	addr := []hub.Address{{Street: "Industriestr. 1", PostalCode: "80331", City: "München", Country: "DE"}}
	recs := []Record{
		rec("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", BirthDate: "1980-03-12", Addresses: addr, Phones: board}),
		rec("erp", "1", 2, hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", BirthDate: "1980-03-12", Addresses: addr, Phones: board}),
		rec("crm", "2", 3, hub.Customer{GivenName: "Jonas", FamilyName: "Weber", BirthDate: "1991-05-02", Phones: board}),
		rec("crm", "3", 4, hub.Customer{GivenName: "Lea", FamilyName: "Becker", BirthDate: "1985-09-21", Phones: board}),
		rec("news", "1", 5, hub.Customer{Phones: board}),
	}
	got := sortedClusters(New(Config{Fuzzy: f}).Resolve(recs, nil).Clusters)
	want := [][]string{{"crm/customers/1", "erp/customers/1"}, {"crm/customers/2"}, {"crm/customers/3"}, {"news/customers/1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("clusters %v, want %v", got, want)
	}
}

// sortedClusters renders clusters as record keys, clusters ordered by
// their first key.
func sortedClusters(cs []Cluster) [][]string {
	out := clusterKeys(cs)
	slices.SortFunc(out, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return out
}
