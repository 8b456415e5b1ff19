package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/crmhub/crmhub/hub"
)

func TestNameSearchOrderSQLite(t *testing.T) { testNameSearchOrder(t, MustOpenSQLite) }

func TestNameSearchOrderPostgresIntegration(t *testing.T) { testNameSearchOrder(t, MustOpenPostgres) }

// A search by name alone pages in the order of the name found, each
// matching customer exactly once (also one with two matching names), and
// finds the same customers as the search ordered by id.
func testNameSearchOrder(t *testing.T, open opener) {
	s := open(t, Options{})
	ctx := context.Background()
	var evs []hub.Envelope
	families := []string{"Müller", "Mueller", "Muench", "Schmidt", "Mühlberg"}
	for i := range 23 {
		c := hub.Customer{GivenName: fmt.Sprintf("Anna%02d", i), FamilyName: families[i%len(families)],
			Emails: []string{fmt.Sprintf("p%d@example.de", i)}}
		if i == 7 {
			c.GivenName = "Muriel" // given and family name both start with "mu"
		}
		evs = append(evs, cust("crm", fmt.Sprint(i), i, c))
	}
	mustApply(t, s, evs...)

	var paged []hub.GoldenCustomer
	f := hub.CustomerFilter{Name: "mu", Limit: 4}
	for range 20 {
		page, err := s.FindCustomerSummaries(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.After, f.AfterName = last.ID, last.FoundBy
	}
	for i := 1; i < len(paged); i++ {
		a, b := paged[i-1], paged[i]
		if a.FoundBy > b.FoundBy || a.FoundBy == b.FoundBy && a.ID >= b.ID {
			t.Fatalf("not in name order at %d: %q/%s then %q/%s", i, a.FoundBy, a.ID, b.FoundBy, b.ID)
		}
	}
	var got, want []string
	for _, g := range paged {
		got = append(got, g.ID)
	}
	all, err := s.FindCustomers(ctx, hub.CustomerFilter{Name: "mu", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range all {
		want = append(want, v.ID)
	}
	sort.Strings(got)
	// "mu" matches Mueller, Muench and Muriel (umlauts are kept: Müller
	// is found by "mü" and, in its e-mail-free spelling, by "mue").
	if len(want) != 10 || !slices.Equal(got, want) {
		t.Errorf("name-ordered pages found %d customers %v, the id-ordered search %d %v (want 10)", len(got), got, len(want), want)
	}
}
