package store

import (
	"reflect"
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

func TestBlockCapOrderIndependentSQLite(t *testing.T) {
	t.Parallel() // long and self-contained: see "Parallel tests" in helpers_test.go
	testBlockCapOrderIndependent(t, MustOpenSQLite)
}
func TestBlockCapOrderIndependentPostgresIntegration(t *testing.T) {
	t.Parallel() // long and self-contained: see "Parallel tests" in helpers_test.go
	testBlockCapOrderIndependent(t, MustOpenPostgres)
}

// A fuzzy link stands for the blocks two records share now: a block that
// grows past max_block takes back the links its members made while it was
// small, and one that shrinks below it again scores its pairs. Three
// copies of one person that share only blocks of three, under a cap of 2,
// end as the same customers in every arrival order (before, the first two
// to arrive joined and the third stayed apart); with one copy deleted,
// the other two join, as in a store that only ever saw those two.
func testBlockCapOrderIndependent(t *testing.T, open opener) {
	p := hub.Customer{Kind: "person", GivenName: "Annegret", FamilyName: "Kowalczyk", BirthDate: "1971-03-05",
		Addresses: []hub.Address{{Street: "Lindenweg 7", PostalCode: "24103", City: "Kiel", Country: "DE"}}}
	opts := Options{Identity: identity.Config{Fuzzy: &identity.FuzzyConfig{MaxBlock: 2}}}
	// together reports, per pair of systems, whether their records share
	// a golden customer.
	together := func(s *Store, systems ...string) map[string]bool {
		out := map[string]bool{}
		for i, x := range systems {
			for _, y := range systems[i+1:] {
				out[x+y] = goldenOf(t, s, x, "1") == goldenOf(t, s, y, "1")
			}
		}
		return out
	}
	var want map[string]bool
	for _, order := range [][]string{{"a", "b", "c"}, {"c", "a", "b"}, {"b", "c", "a"}, {"a", "c", "b"}} {
		s := open(t, opts)
		for i, sys := range order {
			mustApply(t, s, cust(sys, "1", i, p))
		}
		got := together(s, "a", "b", "c")
		if want == nil {
			want = got
		} else if !reflect.DeepEqual(got, want) {
			t.Fatalf("arrival order %v: together %v, order %v gave %v", order, got, []string{"a", "b", "c"}, want)
		}
		mustApply(t, s, del(hub.EntityCustomer, order[0], "customers", "1", 10))
		rest := order[1:]
		only := open(t, opts)
		for i, sys := range rest {
			mustApply(t, only, cust(sys, "1", i, p))
		}
		if got, want := together(s, rest...), together(only, rest...); !reflect.DeepEqual(got, want) {
			t.Fatalf("order %v, %s deleted: together %v; a store of only %v: %v", order, order[0], got, rest, want)
		}
		if !together(only, rest...)[rest[0]+rest[1]] {
			t.Fatalf("two copies of one person in a block of two did not join: the test no longer tests the cap")
		}
	}
	if want["ab"] || want["ac"] || want["bc"] {
		t.Errorf("copies sharing only blocks over max_block joined: %v", want)
	}
}
