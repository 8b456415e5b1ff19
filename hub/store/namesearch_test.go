package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
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
	// is found by "mü" and by "mue", below).
	if len(want) != 10 || !slices.Equal(got, want) {
		t.Errorf("name-ordered pages found %d customers %v, the id-ordered search %d %v (want 10)", len(got), got, len(want), want)
	}
}

// Umlauts written either way find each other: "mue" finds Müller and
// Mueller, "mü" the same, each customer once, in name order.
func TestNameSearchUmlautsSQLite(t *testing.T) {
	s := MustOpenSQLite(t, Options{})
	ctx := context.Background()
	mustApply(t, s,
		cust("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Müller", Emails: []string{"a@x.de"}}),
		cust("crm", "2", 1, hub.Customer{GivenName: "Bernd", FamilyName: "Mueller", Emails: []string{"b@x.de"}}),
		cust("crm", "3", 1, hub.Customer{GivenName: "Carla", FamilyName: "Muster", Emails: []string{"c@x.de"}}),
		cust("crm", "4", 1, hub.Customer{GivenName: "Dora", FamilyName: "Mühle", Emails: []string{"d@x.de"}}))
	for _, q := range []string{"mue", "Mü", "MUEL"} {
		var names []string
		f := hub.CustomerFilter{Name: q, Limit: 1}
		for range 10 {
			page, err := s.FindCustomerSummaries(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range page {
				names = append(names, g.Customer.FamilyName)
			}
			if len(page) < f.Limit {
				break
			}
			f.After, f.AfterName = page[0].ID, page[0].FoundBy
		}
		want := "Mueller,Mühle,Müller" // byte order: "mue…" before "mü…"
		if q == "MUEL" {
			want = "Mueller,Müller"
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("%q: %s, want %s", q, got, want)
		}
		// The search ordered by id (with other filters, or view=full)
		// finds the same customers.
		all, err := s.FindCustomers(ctx, hub.CustomerFilter{Name: q, Limit: 10})
		if err != nil || len(all) != len(names) {
			t.Errorf("%q by id: %d customers %v, want %d", q, len(all), err, len(names))
		}
	}
}
