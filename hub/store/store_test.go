package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/testenv"
)

// opener runs each behaviour test on SQLite and, as an Integration test,
// on PostgreSQL.
type opener func(tb testing.TB, opts Options) *Store

func TestStoreSQLite(t *testing.T) {
	t.Parallel() // long and self-contained: see "Parallel tests" in helpers_test.go
	runStoreSuite(t, MustOpenSQLite, 6)
}

// PostgreSQL runs fewer shuffled rounds: each costs a schema and many round trips.
func TestStorePostgresIntegration(t *testing.T) {
	t.Parallel() // long and self-contained: see "Parallel tests" in helpers_test.go
	runStoreSuite(t, MustOpenPostgres, 2)
}

func runStoreSuite(t *testing.T, open opener, rounds int) {
	t.Run("Identity", func(t *testing.T) { testIdentity(t, open) })
	t.Run("Idempotent", func(t *testing.T) { testIdempotent(t, open) })
	t.Run("OrderIndependent", func(t *testing.T) { testOrderIndependent(t, open, rounds) })
	t.Run("ParkThenAttach", func(t *testing.T) { testParkThenAttach(t, open) })
	t.Run("MergeRedirectsAndDeletes", func(t *testing.T) { testMergeAndDelete(t, open) })
	t.Run("Search", func(t *testing.T) { testSearch(t, open) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, open) })
	t.Run("Positions", func(t *testing.T) { testPositions(t, open) })
	t.Run("OrderIndependentFuzzy", func(t *testing.T) { testOrderIndependentFuzzy(t, open, rounds) })
	t.Run("OrderIndependentSmallBlocks", func(t *testing.T) { testOrderIndependentSmallBlocks(t, open, rounds) })
	t.Run("Steward", func(t *testing.T) { testSteward(t, open) })
	t.Run("ReviewQueue", func(t *testing.T) { testReviewQueue(t, open) })
	t.Run("ReviewsKeptAcrossBatches", func(t *testing.T) { testReviewsAcrossBatches(t, open) })
}

func testIdentity(t *testing.T, open opener) {
	org := func(name, tax, email string) hub.Customer {
		c := hub.Customer{Kind: "organization", OrganizationName: name, TaxID: tax}
		if email != "" {
			c.Emails = []string{email}
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		events []hub.Envelope
		golden int64
	}{
		{"email case", []hub.Envelope{
			cust("crm", "1", 1, hub.Customer{FamilyName: "Schmidt", Emails: []string{"Anna.Schmidt@Example.de"}}),
			cust("erp", "K1", 2, hub.Customer{FamilyName: "Schmidt", Emails: []string{"anna.schmidt@example.de"}}),
		}, 1},
		{"phone formats", []hub.Envelope{
			cust("crm", "1", 1, hub.Customer{FamilyName: "Meier", Phones: []string{"+49301234567"}}),
			cust("svc", "7", 2, hub.Customer{FamilyName: "Meier", Phones: []string{"030/1234567"}}),
		}, 1},
		{"tax id", []hub.Envelope{
			cust("erp", "K1", 1, org("ACME GmbH", "DE 123.456.789", "")),
			cust("fin", "D1", 2, org("Acme", "de123456789", "")),
		}, 1},
		{"cross reference", []hub.Envelope{
			cust("erp", "K100", 1, hub.Customer{FamilyName: "Meyer"}),
			cust("crm", "c-9", 2, hub.Customer{FamilyName: "Meier", ExternalIDs: []hub.Ref{{System: "erp", ID: "K100"}}}),
		}, 1},
		{"person and organization", []hub.Envelope{
			cust("crm", "1", 1, hub.Customer{FamilyName: "Acme", Emails: []string{"info@acme.de"}}),
			cust("erp", "K1", 2, org("Acme", "", "info@acme.de")),
		}, 2},
		{"conflicting tax ids", []hub.Envelope{
			cust("erp", "K1", 1, org("Acme", "DE111111111", "info@acme.de")),
			cust("erp", "K2", 2, org("Acme Bau", "DE222222222", "info@acme.de")),
		}, 2},
		{"unrelated", []hub.Envelope{
			cust("crm", "1", 1, hub.Customer{FamilyName: "Schmidt", Emails: []string{"a@example.de"}}),
			cust("crm", "2", 2, hub.Customer{FamilyName: "Schmidt", Emails: []string{"b@example.de"}}),
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, Options{})
			mustApply(t, s, tc.events...)
			n, err := s.Counts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n.GoldenCustomers != tc.golden || n.SourceRecords != int64(len(tc.events)) {
				t.Fatalf("counts %+v, want %d golden customers", n, tc.golden)
			}
			// Each source record is found through its own system id, in
			// a golden customer that lists it as a source.
			for _, e := range tc.events {
				vs, err := s.FindCustomers(context.Background(), hub.CustomerFilter{System: e.System, SourceID: e.SourceID})
				if err != nil || len(vs) != 1 {
					t.Fatalf("find %s/%s: %d results, %v", e.System, e.SourceID, len(vs), err)
				}
				if !hasSource(vs[0], e.System, e.SourceID) {
					t.Errorf("golden %s does not list source %s/%s", vs[0].ID, e.System, e.SourceID)
				}
			}
		})
	}
}

func hasSource(v hub.CustomerView, system, id string) bool {
	for _, s := range v.Sources {
		if s.System == system && s.SourceID == id {
			return true
		}
	}
	return false
}

func testIdempotent(t *testing.T, open opener) {
	s := open(t, Options{})
	evs := stream(rand.New(rand.NewPCG(7, 7)), 20)
	first := mustApply(t, s, evs...)
	before := snapshot(t, s)
	countsBefore, _ := s.Counts(context.Background())
	ch, _ := s.Changes(context.Background(), 0, 500)
	changesBefore := len(ch)
	again := mustApply(t, s, evs...)
	if again.Applied != 0 || again.Skipped != len(evs) || again.GoldenCreated != 0 || again.GoldenMerged != 0 {
		t.Fatalf("second apply: %+v (first %+v), want everything skipped", again, first)
	}
	if after := snapshot(t, s); !reflect.DeepEqual(before, after) {
		t.Fatal("re-applying the same events changed the golden state")
	}
	if ch, _ := s.Changes(context.Background(), 0, 500); len(ch) != changesBefore {
		t.Fatalf("replay wrote %d golden changes, want none", len(ch)-changesBefore)
	}
	if countsAfter, _ := s.Counts(context.Background()); countsAfter != countsBefore {
		t.Fatalf("counts changed: %+v -> %+v", countsBefore, countsAfter)
	}
}

// stream generates a noisy event stream: n people across three systems
// with e-mail case, phone formats, cross references, several versions per
// record, a few deletes, and orders and payments that may arrive before
// their customer.
func stream(rng *rand.Rand, n int) []hub.Envelope {
	var out []hub.Envelope
	for i := range n {
		email := fmt.Sprintf("person%d@example.de", i)
		phone := fmt.Sprintf("+4930%07d", 1000000+i)
		family := fmt.Sprintf("Family%d", i%7) // shared names must not merge anyone
		erpID := fmt.Sprintf("K%04d", i)
		for v := range 1 + rng.IntN(3) {
			out = append(out, cust("erp", erpID, 10*v+rng.IntN(5), hub.Customer{FamilyName: family,
				GivenName: fmt.Sprintf("G%d-v%d", i, v), Emails: []string{email}}))
		}
		if rng.IntN(3) > 0 {
			out = append(out, cust("crm", fmt.Sprintf("c%d", i), rng.IntN(40), hub.Customer{FullName: family,
				Emails: []string{"  " + upperFirst(email)}, Phones: []string{phone},
				ExternalIDs: []hub.Ref{{System: "erp", ID: erpID}}}))
		}
		if i%4 == 1 {
			// A web-shop account: a spelling variant at the same address,
			// no shared key; only fuzzy matching can find it.
			out = append(out, cust("shop", fmt.Sprintf("w%d", i), rng.IntN(40), hub.Customer{GivenName: fmt.Sprintf("G%d", i),
				FamilyName: family + "e", Addresses: []hub.Address{{Street: fmt.Sprintf("Hauptstr. %d", i), PostalCode: "10115", Country: "DE"}}}))
			out = append(out, cust("erp", erpID+"-addr", 3, hub.Customer{GivenName: fmt.Sprintf("G%d", i),
				FamilyName: family, Addresses: []hub.Address{{Street: fmt.Sprintf("Hauptstraße %d", i), PostalCode: "10115", Country: "DE"}}}))
		}
		if rng.IntN(2) == 0 {
			// Service desk: only the phone, in national format.
			out = append(out, cust("svc", fmt.Sprintf("s%d", i), rng.IntN(40), hub.Customer{FamilyName: family,
				Phones: []string{fmt.Sprintf("030 %07d", 1000000+i)}}))
		}
		if i%5 == 0 {
			out = append(out, cust("svc", fmt.Sprintf("x%d", i), 1, hub.Customer{FamilyName: "gone", Phones: []string{phone}}),
				del(hub.EntityCustomer, "svc", "customers", fmt.Sprintf("x%d", i), 2))
		}
		if i%3 == 0 { // an org sharing the e-mail never joins the person
			out = append(out, cust("fin", fmt.Sprintf("o%d", i), 5, hub.Customer{Kind: "organization",
				OrganizationName: family + " GmbH", TaxID: fmt.Sprintf("DE%09d", i), Emails: []string{email}}))
		}
		out = append(out, ev(hub.EntityOrder, "erp", "orders", fmt.Sprintf("A%d", i), rng.IntN(30),
			hub.Order{OrderNumber: fmt.Sprintf("A%d", i), CustomerRef: hub.Ref{System: "erp", ID: erpID},
				Total: &hub.Money{Amount: "10.50", Currency: "EUR"}}))
		out = append(out, ev(hub.EntityPayment, "fin", "invoices", fmt.Sprintf("R%d", i), rng.IntN(30),
			hub.Payment{DocumentNumber: fmt.Sprintf("R%d", i), Type: "invoice", CustomerRef: hub.Ref{System: "erp", ID: erpID},
				Amount: hub.Money{Amount: "100.10", Currency: "EUR"}}))
	}
	return out
}

func upperFirst(s string) string { return string(s[0]-32) + s[1:] }

func testOrderIndependent(t *testing.T, open opener, rounds int) {
	orderIndependent(t, open, Options{}, rounds)
}

func testOrderIndependentFuzzy(t *testing.T, open opener, rounds int) {
	want, reviews := orderIndependent(t, open, Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}}, rounds)
	if len(reviews) == 0 {
		t.Fatal("the reference queues no review: the stream no longer tests the queue")
	}
	// The spelling variant at the same address joined through fuzzy matching.
	for _, v := range want {
		if hasSource(v, "shop", "w1") {
			if !hasSource(v, "erp", "K0001-addr") {
				t.Fatalf("shop/w1 did not join erp/K0001-addr: %+v", v.Sources)
			}
			return
		}
	}
	t.Fatal("shop/w1 not found")
}

// testOrderIndependentSmallBlocks runs the fuzzy stream under a block cap
// its blocks cross as records arrive and leave (max_block 3): links must
// follow the blocks as they are at the end, not as they were when a
// record came (without crossingMembers the review queue differed by
// order). Under max_block 2 a phone crosses the cap too: held by three
// records, one of them later deleted, it joins the other two only once
// it is back at two holders, whichever came first (it did not before
// crossingMembers followed the keys records leave).
func testOrderIndependentSmallBlocks(t *testing.T, open opener, rounds int) {
	for _, limit := range []int{3, 2} {
		t.Run(fmt.Sprintf("max_block=%d", limit), func(t *testing.T) {
			f := identity.DefaultFuzzy()
			f.MaxBlock = limit
			orderIndependent(t, open, Options{Identity: identity.Config{Fuzzy: f}}, rounds)
		})
	}
}

func orderIndependent(t *testing.T, open opener, opts Options, rounds int) ([]hub.CustomerView, []hub.Review) {
	rng := rand.New(rand.NewPCG(1, 99))
	evs := stream(rng, 25)
	ref := open(t, opts)
	mustApply(t, ref, evs...)
	want := snapshot(t, ref)
	if len(want) < 25 {
		t.Fatalf("reference has %d golden customers, want at least 25", len(want))
	}
	wantReviews := reviewQueue(t, ref)
	if testing.Short() {
		rounds = 3
	}
	for r := range rounds {
		sh := append([]hub.Envelope(nil), evs...)
		for range len(evs) / 3 { // duplicates
			sh = append(sh, evs[rng.IntN(len(evs))])
		}
		rng.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
		s := open(t, opts)
		for len(sh) > 0 { // random batch sizes, one event to many
			k := min(len(sh), 1+rng.IntN(40))
			mustApply(t, s, sh[:k]...)
			sh = sh[k:]
		}
		if got := snapshot(t, s); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: final golden state differs from in-order application:\n got %s\nwant %s", r, mustJSON(t, got), mustJSON(t, want))
		}
		if got := reviewQueue(t, s); !reflect.DeepEqual(got, wantReviews) {
			t.Fatalf("round %d: review queue differs from in-order application:\n got %s\nwant %s", r, mustJSON(t, got), mustJSON(t, wantReviews))
		}
	}
	return want, wantReviews
}

// reviewQueue is the whole review queue of s, in its order.
func reviewQueue(tb testing.TB, s *Store) []hub.Review {
	tb.Helper()
	var out []hub.Review
	var a, b string
	for {
		page, err := s.Reviews(context.Background(), a, b, MaxLimit)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < MaxLimit {
			return out
		}
		a, b = page[len(page)-1].A, page[len(page)-1].B
	}
}

func testParkThenAttach(t *testing.T, open opener) {
	s := open(t, Options{})
	ctx := context.Background()
	mustApply(t, s,
		ev(hub.EntityOrder, "erp", "orders", "A1", 1, hub.Order{OrderNumber: "A1", CustomerRef: hub.Ref{System: "erp", ID: "K1"}}),
		ev(hub.EntityPayment, "fin", "invoices", "R1", 1, hub.Payment{DocumentNumber: "R1", Type: "invoice",
			CustomerRef: hub.Ref{System: "erp", ID: "K1"}, Amount: hub.Money{Amount: "100.00", Currency: "EUR"}}),
		ev(hub.EntityPayment, "fin", "payments", "Z1", 2, hub.Payment{DocumentNumber: "Z1", Type: "payment",
			CustomerRef: hub.Ref{System: "erp", ID: "K1"}, Amount: hub.Money{Amount: "30.5", Currency: "EUR"}}),
		ev(hub.EntityServiceCase, "svc", "tickets", "T1", 1, hub.ServiceCase{CaseNumber: "T1", Status: "open",
			CustomerRef: hub.Ref{System: "crm", ID: "c1"}}),
	)
	n, _ := s.Counts(ctx)
	if n.Parked != 4 || n.GoldenCustomers != 0 {
		t.Fatalf("before the customer arrives: %+v, want 4 parked", n)
	}
	if oldest, err := s.OldestParked(ctx); err != nil || !oldest.Equal(t0.Add(time.Minute)) {
		t.Fatalf("oldest parked: %v %v, want %v", oldest, err, t0.Add(time.Minute))
	}
	mustApply(t, s, cust("erp", "K1", 1, hub.Customer{FamilyName: "Schmidt", Emails: []string{"a@example.de"}}))
	if n, _ = s.Counts(ctx); n.Parked != 1 {
		t.Fatalf("after the ERP customer: %d parked, want 1 (the case names the CRM contact)", n.Parked)
	}
	// The CRM contact arrives, matches by e-mail: the case attaches to the same golden customer.
	mustApply(t, s, cust("crm", "c1", 2, hub.Customer{FamilyName: "Schmidt", Emails: []string{"A@Example.de"}}))
	if n, _ = s.Counts(ctx); n.Parked != 0 || n.GoldenCustomers != 1 {
		t.Fatalf("after the CRM contact: %+v", n)
	}
	vs, err := s.FindCustomers(ctx, hub.CustomerFilter{Email: "a@example.de"})
	if err != nil || len(vs) != 1 {
		t.Fatalf("find: %v %v", vs, err)
	}
	golden(t, "park_then_attach.json", mustJSON(t, vs[0]))
	v := vs[0]
	if len(v.Orders) != 1 || len(v.Payments) != 2 || len(v.Cases) != 1 {
		t.Fatalf("linked: %d orders, %d payments, %d cases", len(v.Orders), len(v.Payments), len(v.Cases))
	}
	if !reflect.DeepEqual(v.OpenBalance, []hub.Money{{Amount: "69.50", Currency: "EUR"}}) {
		t.Errorf("open balance %+v, want 69.50 EUR", v.OpenBalance)
	}
	// Deleting the customer parks its records again.
	mustApply(t, s, del(hub.EntityCustomer, "erp", "customers", "K1", 5))
	if n, _ = s.Counts(ctx); n.Parked != 3 || n.GoldenCustomers != 1 {
		t.Fatalf("after deleting the ERP customer: %+v", n)
	}
}

func testMergeAndDelete(t *testing.T, open opener) {
	s := open(t, Options{})
	ctx := context.Background()
	// Two customers that look unrelated ...
	mustApply(t, s, cust("erp", "K1", 1, hub.Customer{FamilyName: "Schmidt", Emails: []string{"a@example.de"}}))
	mustApply(t, s, cust("crm", "c1", 1, hub.Customer{FamilyName: "Schmidt", Phones: []string{"+49301234567"}}))
	a, _ := s.FindCustomers(ctx, hub.CustomerFilter{System: "erp", SourceID: "K1"})
	c, _ := s.FindCustomers(ctx, hub.CustomerFilter{System: "crm", SourceID: "c1"})
	if len(a) != 1 || len(c) != 1 || a[0].ID == c[0].ID {
		t.Fatalf("before the bridge: %d, %d", len(a), len(c))
	}
	// ... until a record links them: one survives, the other redirects.
	st := mustApply(t, s, cust("svc", "s1", 2, hub.Customer{FamilyName: "Schmidt", Emails: []string{"a@example.de"}, Phones: []string{"030 1234567"}}))
	if st.GoldenMerged != 1 {
		t.Fatalf("bridge: %+v, want one merge", st)
	}
	// The survivor is the cluster holding the smallest record key (crm/customers/c1).
	surv, loser := c[0].ID, a[0].ID
	v, err := s.FindCustomerByID(ctx, loser)
	if err != nil || v.ID != surv {
		t.Fatalf("merged id %s: got %v, %v; want the survivor %s", loser, v, err, surv)
	}
	if len(v.Sources) != 3 || !reflect.DeepEqual(v.MergedFrom, []string{loser}) {
		t.Fatalf("survivor: %d sources, merged_from %v", len(v.Sources), v.MergedFrom)
	}
	if l := v.Lineage["emails"]; l.Rule != "union" || !reflect.DeepEqual(l.Sources, []string{"erp/customers/K1", "svc/customers/s1"}) || v.Lineage["family_name"].Source != "svc/customers/s1" {
		t.Errorf("lineage: %+v", v.Lineage)
	}
	// Deleting the bridge splits them again; deleting all sources retires.
	mustApply(t, s, del(hub.EntityCustomer, "svc", "customers", "s1", 3))
	if n, _ := s.Counts(ctx); n.GoldenCustomers != 2 {
		t.Fatalf("after deleting the bridge: %d golden customers", n.GoldenCustomers)
	}
	if v, err := s.FindCustomerByID(ctx, loser); err != nil || v.ID != loser {
		t.Fatalf("split: %s should be active again: %v %v", loser, v, err)
	}
	mustApply(t, s, del(hub.EntityCustomer, "erp", "customers", "K1", 3), del(hub.EntityCustomer, "crm", "customers", "c1", 3))
	if n, _ := s.Counts(ctx); n.GoldenCustomers != 0 || n.SourceRecords != 0 {
		t.Fatalf("after deleting all: %+v", n)
	}
	if _, err := s.FindCustomerByID(ctx, surv); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("retired customer: %v, want ErrNotFound", err)
	}
	// The change feed tells the story in order.
	changes, err := s.Changes(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var story []string
	for i, c := range changes {
		if i > 0 && c.Seq <= changes[i-1].Seq {
			t.Fatalf("feed out of order: %+v", changes)
		}
		who := map[string]string{surv: "S", loser: "L"}[c.GoldenID]
		story = append(story, c.Op+":"+who+map[string]string{surv: ">S", loser: ">L", "": ""}[c.Survivor])
	}
	// Retirements of one batch come in golden id order.
	retired := []string{"retired:S", "retired:L"}
	if loser < surv {
		retired = []string{"retired:L", "retired:S"}
	}
	want := append([]string{"upsert:L", "upsert:S", "upsert:S", "merged:L>S", "upsert:L", "upsert:S"}, retired...)
	if !reflect.DeepEqual(story, want) {
		t.Errorf("change feed %v, want %v", story, want)
	}
	if rest, _ := s.Changes(ctx, changes[len(changes)-1].Seq, 10); len(rest) != 0 {
		t.Errorf("changes after the last seq: %+v", rest)
	}
	// An older version arriving after the delete changes nothing.
	mustApply(t, s, cust("erp", "K1", 2, hub.Customer{FamilyName: "Late", Emails: []string{"a@example.de"}}))
	if n, _ := s.Counts(ctx); n.GoldenCustomers != 0 {
		t.Fatalf("an older version resurrected the customer: %+v", n)
	}
}

func testSearch(t *testing.T, open opener) {
	s := open(t, Options{})
	ctx := context.Background()
	mustApply(t, s,
		cust("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", Emails: []string{"anna@example.de"}, Phones: []string{"+49301234567"}}),
		cust("crm", "2", 1, hub.Customer{GivenName: "Bernd", FamilyName: "Schmitz", Emails: []string{"bernd@example.de"}}),
		cust("erp", "3", 1, hub.Customer{Kind: "organization", OrganizationName: "Schmidt & Söhne KG", TaxID: "DE 999.888.777"}),
	)
	for _, tc := range []struct {
		name string
		f    hub.CustomerFilter
		want int
	}{
		{"email any case", hub.CustomerFilter{Email: " ANNA@example.DE"}, 1},
		{"phone national", hub.CustomerFilter{Phone: "030/1234567"}, 1},
		{"phone international", hub.CustomerFilter{Phone: "+49 30 1234567"}, 1},
		{"name prefix", hub.CustomerFilter{Name: "schm"}, 3},
		{"name prefix narrower", hub.CustomerFilter{Name: "SCHMID"}, 2},
		{"given and family", hub.CustomerFilter{Name: "anna schm"}, 1},
		{"tax id any spelling", hub.CustomerFilter{TaxID: "de999888777"}, 1},
		{"source id", hub.CustomerFilter{System: "crm", SourceID: "2"}, 1},
		{"combined, no match", hub.CustomerFilter{Name: "bernd", Email: "anna@example.de"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.FindCustomers(ctx, tc.f)
			if err != nil || len(got) != tc.want {
				t.Fatalf("%+v: %d results, %v; want %d", tc.f, len(got), err, tc.want)
			}
		})
	}
	all, err := s.FindCustomers(ctx, hub.CustomerFilter{Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "search_name_s.json", mustJSON(t, all))
	// Pagination visits each customer once.
	seen := map[string]bool{}
	f := hub.CustomerFilter{Name: "s", Limit: 1}
	for range 10 {
		page, err := s.FindCustomers(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if seen[page[0].ID] {
			t.Fatalf("page repeats %s", page[0].ID)
		}
		seen[page[0].ID] = true
		f.After = page[0].ID
	}
	if len(seen) != 3 {
		t.Fatalf("pagination saw %d customers, want 3", len(seen))
	}
	if _, err := s.FindCustomers(ctx, hub.CustomerFilter{Phone: "not a phone"}); !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("bad phone: %v, want ErrInvalid", err)
	}
}

func testBadInput(t *testing.T, open opener) {
	s := open(t, Options{})
	good := cust("crm", "1", 1, hub.Customer{FamilyName: "Ok"})
	for _, tc := range []struct {
		name, data, field string
	}{
		{"bad kind", `{"kind":"robot","family_name":"X"}`, "kind"},
		{"wrong type", `{"kind":"person","emails":"a@b.de"}`, "emails"},
		{"unknown field", `{"kind":"person","nickname":"X"}`, "nickname"},
		{"bad money", `{"kind":"person","family_name":"X","credit_limit":{"amount":"1,5","currency":"EUR"}}`, "credit_limit.amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := cust("crm", "2", 1, hub.Customer{FamilyName: "x"})
			bad.Data = []byte(tc.data)
			_, err := s.Apply(context.Background(), []hub.Envelope{good, bad})
			var ae *hub.ApplyError
			if !errors.As(err, &ae) || ae.Index != 1 || ae.Field != tc.field || ae.SourceID != "2" || !errors.Is(err, hub.ErrInvalid) {
				t.Fatalf("err = %v (%+v), want ApplyError at index 1 naming field %s", err, ae, tc.field)
			}
			// The batch rolled back: the good event was not applied either.
			if n, _ := s.Counts(context.Background()); n.AppliedEvents != 0 {
				t.Fatalf("batch was not rolled back: %+v", n)
			}
		})
	}
	order := ev(hub.EntityOrder, "erp", "orders", "A1", 1, hub.Order{OrderNumber: "A1"})
	if _, err := s.Apply(context.Background(), []hub.Envelope{order}); err == nil || !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("order without customer_ref: %v", err)
	}
}

func testPositions(t *testing.T, open opener) {
	s := open(t, Options{})
	ctx := context.Background()
	if p, err := s.Position(ctx, "erp"); p != nil || err != nil {
		t.Fatalf("fresh: %q %v", p, err)
	}
	for _, want := range []string{"pos-1", "pos-2"} {
		if err := s.SavePosition(ctx, "erp", []byte(want)); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Position(ctx, "erp"); string(p) != want || err != nil {
			t.Fatalf("got %q %v, want %q", p, err, want)
		}
	}
}

func TestReopenKeepsStateAndMigratesOnce(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, DriverSQLite, dir+"/hub.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, cust("crm", "1", 1, hub.Customer{FamilyName: "A"}))
	s.Close()
	s, err = Open(ctx, DriverSQLite, dir+"/hub.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, _ := s.Counts(ctx); n.GoldenCustomers != 1 {
		t.Fatalf("after reopen: %+v", n)
	}
}

func testSteward(t *testing.T, open opener) {
	s := open(t, Options{})
	ctx := context.Background()
	mustApply(t, s,
		cust("crm", "c1", 1, hub.Customer{FamilyName: "Schmidt", Emails: []string{"a@example.de"}}),
		cust("erp", "K1", 1, hub.Customer{FamilyName: "Schmidt", Emails: []string{"a@example.de"}}),
		cust("svc", "s1", 1, hub.Customer{FamilyName: "Schmidt", Phones: []string{"+49301234567"}}),
		cust("erp", "K9", 1, hub.Customer{Kind: "organization", OrganizationName: "Schmidt GmbH"}),
	)
	find := func(system, id string) string {
		vs, err := s.FindCustomers(ctx, hub.CustomerFilter{System: system, SourceID: id})
		if err != nil || len(vs) != 1 {
			t.Fatalf("find %s/%s: %v %v", system, id, vs, err)
		}
		return vs[0].ID
	}
	g, svc := find("crm", "c1"), find("svc", "s1")
	if find("erp", "K1") != g || svc == g {
		t.Fatal("setup: c1 and K1 should be one customer, s1 another")
	}
	if _, err := s.ForceMerge(ctx, g, svc, "", "why"); !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("merge without actor: %v", err)
	}
	if _, err := s.ForceMerge(ctx, g, find("erp", "K9"), "steward@x", "same"); !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("person into organization: %v, want ErrConflict", err)
	}
	surv, err := s.ForceMerge(ctx, svc, g, "steward@x", "same phone in the call notes")
	if err != nil || surv != g {
		t.Fatalf("force merge: %s %v, want survivor %s", surv, err, g)
	}
	if v, err := s.FindCustomerByID(ctx, svc); err != nil || v.ID != g || len(v.Sources) != 3 {
		t.Fatalf("after force merge: %v %v", v, err)
	}
	// The decision survives a new version of the record.
	mustApply(t, s, cust("svc", "s1", 2, hub.Customer{FamilyName: "Schmidt", Phones: []string{"+49301234568"}}))
	if find("svc", "s1") != g {
		t.Fatal("force merge did not survive an update")
	}
	// Unmerge the ERP record: it gets its own customer and stays apart even
	// though it shares the e-mail.
	split, err := s.Unmerge(ctx, g, "erp/customers/K1", "steward@x", "different person, shared mailbox")
	if err != nil || split == g {
		t.Fatalf("unmerge: %s %v", split, err)
	}
	mustApply(t, s, cust("erp", "K1", 3, hub.Customer{FamilyName: "Schmidt", Emails: []string{"a@example.de"}, GivenName: "Bernd"}))
	if find("erp", "K1") == g || find("crm", "c1") != g || find("svc", "s1") != g {
		t.Fatal("unmerge did not hold after an update")
	}
	if _, err := s.Unmerge(ctx, g, "erp/customers/K1", "steward@x", "again"); !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("unmerge of a record that is not a source: %v", err)
	}
	entries, err := s.Audit(ctx, g)
	if err != nil || len(entries) != 2 || entries[0].Action != ActionForceMerge || entries[1].Action != ActionUnmerge || entries[1].Actor != "steward@x" {
		t.Fatalf("audit: %+v %v", entries, err)
	}
}

func testReviewQueue(t *testing.T, open opener) {
	s := open(t, Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}})
	ctx := context.Background()
	at := func(street string) []hub.Address {
		return []hub.Address{{Street: street, PostalCode: "10115", City: "Berlin", Country: "DE"}}
	}
	mustApply(t, s,
		cust("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: at("Hauptstraße 5")}),
		cust("erp", "2", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meyer", Addresses: at("Hauptstr. 5")}),
		cust("shop", "3", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: at("Gartenweg 19")}),
		cust("shop", "4", 1, hub.Customer{GivenName: "Anna", FamilyName: "Maier", Addresses: at("Lindenallee 2")}),
	)
	if n, _ := s.Counts(ctx); n.GoldenCustomers != 3 {
		t.Fatalf("fuzzy auto-merge: %d golden customers, want 3", n.GoldenCustomers)
	}
	reviews, err := s.Reviews(ctx, "", "", 10)
	if err != nil || len(reviews) == 0 {
		t.Fatalf("reviews: %v %v", reviews, err)
	}
	// Persons are scored by the Fellegi-Sunter model: its thresholds
	// are on the match probability.
	th := identity.DefaultParams()
	for _, r := range reviews {
		if r.GoldenA == r.GoldenB || r.Score < th.Review || r.Score >= th.AutoMerge {
			t.Errorf("review %+v: must join two customers with a score between the thresholds", r)
		}
	}
	first := reviews[0]
	if err := s.DecideReview(ctx, first.A, first.B, true, "steward@x", "same person, moved"); err != nil {
		t.Fatal(err)
	}
	var ga, gb string
	for _, k := range []struct {
		dst *string
		key string
	}{{&ga, first.A}, {&gb, first.B}} {
		parts := strings.SplitN(k.key, "/", 3)
		vs, _ := s.FindCustomers(ctx, hub.CustomerFilter{System: parts[0], SourceID: parts[2]})
		*k.dst = vs[0].ID
	}
	if ga != gb {
		t.Fatalf("accepted review did not merge: %s vs %s", ga, gb)
	}
	after, _ := s.Reviews(ctx, "", "", 10)
	for _, r := range after {
		if r.A == first.A && r.B == first.B {
			t.Fatal("accepted review is still queued")
		}
	}
	if len(after) > 0 {
		if err := s.DecideReview(ctx, after[0].A, after[0].B, false, "steward@x", "not the same"); err != nil {
			t.Fatal(err)
		}
		again, _ := s.Reviews(ctx, "", "", 10)
		if len(again) >= len(after) {
			t.Fatalf("rejected review still queued: %+v", again)
		}
	}
	if err := s.DecideReview(ctx, "x/y/z", "x/y/w", true, "steward@x", "r"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("unknown review: %v", err)
	}
}

// A pragma in the DSN wins over the store's default for it; the others
// keep their defaults.
// The page cache is a budget for the whole store: half the writer's,
// the rest shared by the read connections.
func TestSQLiteCacheBudget(t *testing.T) {
	s := mustOpen(t, DriverSQLite, filepath.Join(t.TempDir(), "hub.db"), Options{SQLiteCacheMB: 64})
	for _, c := range []struct {
		db   *sql.DB
		want int
	}{{s.db, -32 * 1024}, {s.rdb, -8 * 1024}} {
		var cache int
		if err := c.db.QueryRow(`PRAGMA cache_size`).Scan(&cache); err != nil {
			t.Fatal(err)
		}
		if cache != c.want {
			t.Errorf("cache_size %d, want %d", cache, c.want)
		}
	}
}

func TestSQLiteDSNPragmaWins(t *testing.T) {
	s := mustOpen(t, DriverSQLite, filepath.Join(t.TempDir(), "hub.db")+"?_pragma=cache_size(-2048)", Options{})
	for _, db := range []*sql.DB{s.db, s.rdb} {
		var cache int
		var mode string
		if err := db.QueryRow(`PRAGMA cache_size`).Scan(&cache); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if cache != -2048 || mode != "wal" {
			t.Errorf("cache_size %d, journal_mode %s; want -2048 (from the DSN) and wal (the default)", cache, mode)
		}
	}
}

// Sorts bigger than the page cache go to temporary files, on the writer
// (migrations build indexes over every row) and on the readers (the
// analytics group millions of orders): in memory they would grow the
// process past its memory bound.
func TestSQLiteSortsOnDisk(t *testing.T) {
	s := mustOpen(t, DriverSQLite, filepath.Join(t.TempDir(), "hub.db"), Options{})
	for name, db := range map[string]*sql.DB{"writer": s.db, "reader": s.rdb} {
		var mode int
		if err := db.QueryRow(`PRAGMA temp_store`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != 1 {
			t.Errorf("%s: temp_store %d, want 1 (FILE)", name, mode)
		}
	}
}

// The writer's memory map follows Options.SQLiteMmapMB (its RSS bound);
// the readers never map the file.
func TestSQLiteMmapBounded(t *testing.T) {
	for _, tc := range []struct {
		opt  int
		want int64
	}{{0, DefaultSQLiteMmapMB << 20}, {64, 64 << 20}, {-1, 0}} {
		s := mustOpen(t, DriverSQLite, filepath.Join(t.TempDir(), "hub.db"), Options{SQLiteMmapMB: tc.opt})
		var w, r int64
		if err := s.db.QueryRow(`PRAGMA mmap_size`).Scan(&w); err != nil {
			t.Fatal(err)
		}
		if err := s.rdb.QueryRow(`PRAGMA mmap_size`).Scan(&r); err != nil {
			t.Fatal(err)
		}
		if w != tc.want || r != 0 {
			t.Errorf("SQLiteMmapMB %d: writer mmap_size %d, reader %d; want %d and 0", tc.opt, w, r, tc.want)
		}
	}
}

// The review queue is a function of the records, like the golden state: a
// pair queued when both records arrived together stays queued when they
// arrive in separate batches, and when one of them changes later without
// the other being re-resolved with it (a review link is not followed when
// re-clustering).
func testReviewsAcrossBatches(t *testing.T, open opener) {
	at := func(street string) []hub.Address {
		return []hub.Address{{Street: street, PostalCode: "10115", City: "Berlin", Country: "DE"}}
	}
	recs := []hub.Envelope{
		cust("crm", "1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: at("Hauptstraße 5")}),
		cust("erp", "2", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meyer", Addresses: at("Hauptstr. 5")}),
		cust("shop", "3", 1, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: at("Gartenweg 19")}),
		cust("shop", "4", 1, hub.Customer{GivenName: "Anna", FamilyName: "Maier", Addresses: at("Lindenallee 2")}),
	}
	opts := Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}}
	together := open(t, opts)
	mustApply(t, together, recs...)
	want := reviewQueue(t, together)
	if len(want) == 0 {
		t.Fatal("no review candidates: the data no longer makes any")
	}
	apart := open(t, opts)
	for _, e := range recs {
		mustApply(t, apart, e)
	}
	if got := reviewQueue(t, apart); !reflect.DeepEqual(got, want) {
		t.Errorf("one record a batch: review queue\n%+v\nwant\n%+v", got, want)
	}
	// Each record again, in a later version with the same values: its
	// component is re-resolved without the records it is queued with.
	for i, e := range recs {
		c := cust(e.System, e.SourceID, 2+i, hub.Customer{})
		c.Data = e.Data
		c.ComputeEventID()
		mustApply(t, together, c)
		if got := reviewQueue(t, together); !reflect.DeepEqual(got, want) {
			t.Fatalf("after a new version of %s: review queue\n%+v\nwant\n%+v", e.SourceID, got, want)
		}
	}
}

// The driver name in configs and the README is "postgres"; "pgx" (the
// database/sql name) is accepted too. Both once failed to open.
func TestOpenPostgresDriverNamesIntegration(t *testing.T) {
	for _, driver := range []string{"postgres", "pgx"} {
		t.Run(driver, func(t *testing.T) {
			s, err := Open(context.Background(), driver, testenv.Postgres(t), Options{})
			if err != nil {
				t.Fatalf("Open(%q): %v", driver, err)
			}
			s.Close()
		})
	}
}

// TestParkedCountPlan: the parked count walks records_linked, never every
// row of records, with statistics taken while the store held no linked
// record at all as with none.
func TestParkedCountPlan(t *testing.T) {
	ctx := context.Background()
	for _, analyzed := range []bool{false, true} {
		s := MustOpenSQLite(t, Options{})
		mustApply(t, s, cust("erp", "K1", 1, hub.Customer{FamilyName: "Schmidt"}))
		if analyzed {
			if _, err := s.db.ExecContext(ctx, `ANALYZE`); err != nil {
				t.Fatal(err)
			}
		}
		plan := queryPlan(t, s.db, s.byLinked(`SELECT COUNT(*), MIN(l.updated_at) `+parkedFrom))
		if !strings.Contains(plan, "SEARCH l USING INDEX records_linked") {
			t.Errorf("analyzed %v: the parked count does not walk records_linked: %v", analyzed, plan)
		}
	}
}
