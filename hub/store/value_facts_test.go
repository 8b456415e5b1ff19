package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/value"
)

func TestValueFactsPropertySQLite(t *testing.T) {
	t.Parallel() // long and self-contained: see "Parallel tests" in helpers_test.go
	runValueFactsSuite(t, MustOpenSQLite, 4)
}

func TestValueFactsPropertyPostgresIntegration(t *testing.T) {
	t.Parallel() // long and self-contained: see "Parallel tests" in helpers_test.go
	runValueFactsSuite(t, MustOpenPostgres, 1)
}

func runValueFactsSuite(t *testing.T, open opener, seeds int) {
	for seed := range seeds {
		for _, mode := range []string{"sync", "deferred", "settled"} {
			t.Run(fmt.Sprintf("seed%d/%s", seed, mode), func(t *testing.T) {
				testValueFactsProperty(t, open, uint64(seed), mode)
			})
		}
	}
	t.Run("Rebuild", func(t *testing.T) { testValueFactsRebuild(t, open) })
	t.Run("Fill", func(t *testing.T) { testValueFactsFill(t, open) })
}

// factsWorld is the raw truth of a property run: every live linked
// record by its source id, with the customer it names.
type factsWorld struct {
	r      *rand.Rand
	minute int
	live   map[string]factsRec // "order/O3" -> record
	sent   []hub.Envelope      // for re-deliveries
}

type factsRec struct {
	customer string
	rec      any // hub.Order, hub.Payment or hub.ServiceCase
}

const factsCustomers = 6

// step makes one random change to a linked record: an upsert (new, or a
// new version naming maybe another customer), a delete, or the
// re-delivery of an earlier event.
func (w *factsWorld) step() hub.Envelope {
	r := w.r
	w.minute++
	if len(w.sent) > 0 && r.IntN(8) == 0 {
		return w.sent[r.IntN(len(w.sent))]
	}
	kind := []string{hub.EntityOrder, hub.EntityPayment, hub.EntityPayment, hub.EntityServiceCase}[r.IntN(4)]
	n := r.IntN(10)
	src := map[string]string{hub.EntityOrder: "orders", hub.EntityPayment: "documents", hub.EntityServiceCase: "cases"}[kind]
	id := fmt.Sprintf("%s%d", kind[:1], n)
	key := kind + "/" + id
	if _, ok := w.live[key]; ok && r.IntN(5) == 0 {
		delete(w.live, key)
		e := del(kind, "erp", src, id, w.minute)
		w.sent = append(w.sent, e)
		return e
	}
	c := fmt.Sprintf("C%d", r.IntN(factsCustomers))
	ref := hub.Ref{System: "crm", ID: c}
	date := valueNow.AddDate(0, 0, -r.IntN(800)).Format(time.DateOnly)
	amt := hub.Money{Amount: decimal.New(int64(r.IntN(90000)-5000), -int32(r.IntN(3))).String(), Currency: []string{"EUR", "EUR", "CHF"}[r.IntN(3)]}
	var rec any
	switch kind {
	case hub.EntityOrder:
		o := hub.Order{OrderNumber: id, CustomerRef: ref, OrderDate: date, Channel: []string{"", "web", "store"}[r.IntN(3)],
			Status: []string{"delivered", "delivered", "open", "cancelled", "returned"}[r.IntN(5)], Region: "north"}
		if r.IntN(3) > 0 {
			o.Total = &amt
		}
		for l := range r.IntN(3) {
			line := hub.OrderLine{LineNo: l, Quantity: "2", UnitPrice: &hub.Money{Amount: "12.5", Currency: amt.Currency},
				Category: []string{"tools", "paint"}[r.IntN(2)]}
			if r.IntN(2) == 0 {
				line.Cost = &hub.Money{Amount: "7.25", Currency: amt.Currency}
			}
			o.Lines = append(o.Lines, line)
		}
		rec = o
	case hub.EntityPayment:
		p := hub.Payment{DocumentNumber: id, Type: []string{"invoice", "invoice", "payment", "credit_note"}[r.IntN(4)], CustomerRef: ref,
			Date: date, DueDate: valueNow.AddDate(0, 0, 30-r.IntN(400)).Format(time.DateOnly), Amount: amt,
			Reference: []string{"", "p1", "p2", "o1", "o2"}[r.IntN(5)], Status: []string{"", "paid", "cancelled"}[r.IntN(3)]}
		rec = p
	default:
		opened := valueNow.Add(-time.Duration(r.IntN(3000)) * time.Hour)
		sc := hub.ServiceCase{CaseNumber: id, CustomerRef: ref, Status: []string{"open", "closed"}[r.IntN(2)], OpenedAt: &opened}
		if sc.Status == "closed" {
			closed := opened.Add(time.Duration(r.IntN(300)) * time.Hour)
			sc.ClosedAt = &closed
		}
		rec = sc
	}
	w.live[key] = factsRec{customer: c, rec: rec}
	e := ev(kind, "erp", src, id, w.minute, rec)
	w.sent = append(w.sent, e)
	return e
}

// want is the straightforward recomputation of every customer's golden
// from the live raw records: customers sharing a golden pool theirs.
func (w *factsWorld) want(t *testing.T, s *Store) map[string]string {
	t.Helper()
	byGolden := map[string]*value.Input{}
	for c := range factsCustomers {
		g := goldenOf(t, s, "crm", fmt.Sprintf("C%d", c))
		if byGolden[g] == nil {
			byGolden[g] = &value.Input{}
		}
	}
	keys := make([]string, 0, len(w.live))
	for k := range w.live {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x := w.live[k]
		in := byGolden[goldenOf(t, s, "crm", x.customer)]
		switch rec := x.rec.(type) {
		case hub.Order:
			in.Orders = append(in.Orders, rec)
		case hub.Payment:
			in.Payments = append(in.Payments, rec)
		case hub.ServiceCase:
			in.Cases = append(in.Cases, rec)
		}
	}
	out := map[string]string{}
	for g, in := range byGolden {
		out[g] = wantFigures(t, in)
	}
	return out
}

// Figures kept from facts equal a full recomputation from the raw
// records after any sequence of upserts, re-pointings, deletes,
// re-deliveries, merges and unmerges, applied at once (sync), deferred
// and drained whole, or deferred and taken as they settle (settled:
// DrainSettled passes at random moments between the steps, each taking
// what settled and keeping the marks of customers still moving; once
// every mark is quiet, one pass takes all of them).
func testValueFactsProperty(t *testing.T, open opener, seed uint64, mode string) {
	ctx := context.Background()
	deferred := mode != "sync"
	s := openValue(t, open, Options{Value: ValueOptions{Deferred: deferred}})
	w := &factsWorld{r: rand.New(rand.NewPCG(seed, 19)), live: map[string]factsRec{}}
	const quiet, maxLag = time.Second, 3 * time.Second
	wall := time.Date(2026, 6, 30, 9, 0, 0, 0, time.UTC)
	s.val.wall = func() time.Time { return wall }
	// pass is a settled pass a random moment after a step.
	pass := func() {
		t.Helper()
		if mode != "settled" {
			return
		}
		wall = wall.Add(time.Duration(w.r.IntN(700)) * time.Millisecond)
		if _, err := s.DrainSettled(ctx, 1+w.r.IntN(20), quiet, maxLag, nil); err != nil {
			t.Fatal(err)
		}
	}
	var custs []hub.Envelope
	for c := range factsCustomers {
		id := fmt.Sprintf("C%d", c)
		custs = append(custs, cust("crm", id, 0, hub.Customer{GivenName: "Given" + id, FamilyName: fmt.Sprintf("Family%c", 'A'+c),
			Emails: []string{fmt.Sprintf("f%d@example%d.com", c, c)}, CreditLimit: &hub.Money{Amount: "1000", Currency: "EUR"}}))
	}
	mustApply(t, s, custs...)
	check := func(round int, what string) {
		t.Helper()
		switch mode {
		case "deferred":
			drainAll(t, s, 1+w.r.IntN(20))
		case "settled":
			wall = wall.Add(quiet)
			if _, err := s.DrainSettled(ctx, 1+w.r.IntN(20), quiet, maxLag, nil); err != nil {
				t.Fatal(err)
			}
			if n := drainAll(t, s, 100); n != 0 {
				t.Fatalf("round %d, after %s: %d marks left after every customer settled", round, what, n)
			}
		}
		for g, want := range w.want(t, s) {
			if got := storedJSON(t, s, g); got != want {
				t.Fatalf("round %d, after %s: golden %s:\n got %s\nwant %s", round, what, g, got, want)
			}
		}
	}
	for round := range 40 {
		switch op := w.r.IntN(10); {
		case op == 0: // merge two goldens
			a, b := goldenOf(t, s, "crm", fmt.Sprintf("C%d", w.r.IntN(factsCustomers))), goldenOf(t, s, "crm", fmt.Sprintf("C%d", w.r.IntN(factsCustomers)))
			if a == b {
				continue
			}
			if _, err := s.ForceMerge(ctx, a, b, "steward@x", "property"); err != nil {
				t.Fatal(err)
			}
			pass()
			check(round, "merge")
		case op == 1: // unmerge a customer record from a shared golden
			c := fmt.Sprintf("C%d", w.r.IntN(factsCustomers))
			g := goldenOf(t, s, "crm", c)
			shared := false
			for o := range factsCustomers {
				if oc := fmt.Sprintf("C%d", o); oc != c && goldenOf(t, s, "crm", oc) == g {
					shared = true
				}
			}
			if !shared {
				continue
			}
			if _, err := s.Unmerge(ctx, g, "crm/customers/"+c, "steward@x", "property"); err != nil {
				t.Fatal(err)
			}
			pass()
			check(round, "unmerge")
		default:
			// A few batches, a settled pass a random moment after each:
			// some of the customers they touch settle between them.
			n := 0
			for range 1 + w.r.IntN(3) {
				var batch []hub.Envelope
				for range 1 + w.r.IntN(12) {
					batch = append(batch, w.step())
				}
				mustApply(t, s, batch...)
				n += len(batch)
				pass()
			}
			check(round, fmt.Sprintf("batches of %d records", n))
		}
	}
}

// Records without facts (applied before 0023, or with the figures off)
// get them from the recompute that reads them, the same facts apply
// writes, and the figures are right meanwhile.
func testValueFactsRebuild(t *testing.T, open opener) {
	ctx := context.Background()
	d := genValue(6, 8)
	s := openValue(t, open, Options{Value: ValueOptions{Off: true}})
	half := len(d.events) / 2
	applyChunked(t, s, d.events[:half])
	if n := countFacts(t, s); n != 0 {
		t.Fatalf("figures off, yet %d facts written", n)
	}
	s.val.off = false
	applyChunked(t, s, d.events[half:])
	// The customers of the first half get figures from the refresh.
	if _, err := s.RefreshValue(ctx, valueNow, 100); err != nil {
		t.Fatal(err)
	}
	checkAll := func(what string) {
		t.Helper()
		for id, in := range d.raw {
			if got, want := storedJSON(t, s, goldenOf(t, s, "crm", id)), wantFigures(t, in); got != want {
				t.Errorf("%s: %s:\n got %s\nwant %s", what, id, got, want)
			}
		}
		linked := 0
		for _, in := range d.raw {
			linked += len(in.Orders) + len(in.Payments) + len(in.Cases)
		}
		if n := countFacts(t, s); n != linked {
			t.Errorf("%s: %d facts, want %d (one per live linked record)", what, n, linked)
		}
	}
	checkAll("figures off, then on")
	// Apply's facts, to compare with the back-filled ones.
	want := storedFacts(t, s)
	// As a store from before 0023: no facts, none of the figures.
	for _, q := range []string{`UPDATE records SET value_fact = NULL`, `DELETE FROM customer_value`, `DELETE FROM value_totals`} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RefreshValue(ctx, valueNow, 100); err != nil {
		t.Fatal(err)
	}
	checkAll("before 0023")
	checkTotals(t, s, d)
	if got := storedFacts(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("back-filled facts differ from apply's:\n got %v\nwant %v", got, want)
	}
	// Customers with some records with a fact and some without: the
	// recompute reads the facts concatenated and the others' data.
	for _, q := range []string{`UPDATE records SET value_fact = NULL WHERE entity = 'payment'`, `DELETE FROM customer_value`, `DELETE FROM value_totals`} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RefreshValue(ctx, valueNow, 100); err != nil {
		t.Fatal(err)
	}
	checkAll("payments without facts")
	checkTotals(t, s, d)
	if got := storedFacts(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("back-filled payment facts differ from apply's:\n got %v\nwant %v", got, want)
	}
}

// testValueFactsFill: records without a fact whose customers no
// recompute reads (figures of today, or records naming no customer) get
// their fact from RefreshValue, a bounded number of records per run, the
// same fact apply writes; once through the table, a run scans nothing.
func testValueFactsFill(t *testing.T, open opener) {
	ctx := context.Background()
	d := genValue(7, 8)
	s := openValue(t, open, Options{Value: ValueOptions{Clock: func() time.Time { return valueNow }}})
	applyChunked(t, s, append(d.events, ev(hub.EntityOrder, "crm", "orders", "ORPHAN", 1,
		hub.Order{OrderNumber: "ORPHAN", CustomerRef: hub.Ref{System: "crm", ID: "nobody"}, Total: &hub.Money{Amount: "1.00", Currency: "EUR"}})))
	if _, err := s.RefreshValue(ctx, valueNow, 1000); err != nil {
		t.Fatal(err)
	}
	want := storedFacts(t, s)
	if _, ok := want["crm/orders/ORPHAN"]; !ok || len(want) < 20 {
		t.Fatalf("apply wrote %d facts, the orphan's missing: %v", len(want), want)
	}
	var records int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM records`).Scan(&records); err != nil {
		t.Fatal(err)
	}
	// A store from before 0023 whose figures are all of today: no
	// recompute reads these facts.
	if _, err := s.db.ExecContext(ctx, `UPDATE records SET value_fact = NULL`); err != nil {
		t.Fatal(err)
	}
	s.val.fill = factFill{window: 3, perRun: 10}
	runs := 0
	for ; countFacts(t, s) < len(want); runs++ {
		if runs > records {
			t.Fatalf("no convergence after %d runs: %d of %d facts", runs, countFacts(t, s), len(want))
		}
		before := countFacts(t, s)
		st, err := s.RefreshValue(ctx, valueNow, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if st.Recomputed != 0 {
			t.Fatalf("run %d recomputed %d customers, want none (figures of today)", runs, st.Recomputed)
		}
		if got := countFacts(t, s) - before; got != st.Facts || got > 10 {
			t.Fatalf("run %d: %d facts written, reported %d, at most 10 scanned", runs, got, st.Facts)
		}
	}
	if runs < records/10 {
		t.Errorf("converged in %d runs, fewer than %d records / 10 per run", runs, records)
	}
	if got := storedFacts(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("back-filled facts differ from apply's:\n got %v\nwant %v", got, want)
	}
	// Past the last key the back-fill stops until the store opens again.
	if _, err := s.db.ExecContext(ctx, `UPDATE records SET value_fact = NULL WHERE rkey = 'crm/orders/ORPHAN'`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.RefreshValue(ctx, valueNow, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if !s.val.fill.done || countFacts(t, s) != len(want)-1 {
		t.Errorf("after a pass over every record: done %v, %d facts, want %d (no second pass)", s.val.fill.done, countFacts(t, s), len(want)-1)
	}
}

func countFacts(t *testing.T, s *Store) int {
	t.Helper()
	return len(storedFacts(t, s))
}

// storedFacts is every records.value_fact by record key.
func storedFacts(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := s.scanAll(context.Background(), s.db, `SELECT rkey, value_fact FROM records WHERE value_fact IS NOT NULL`, nil, func(r *sql.Rows) error {
		var k, f string
		err := r.Scan(&k, &f)
		out[k] = f
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
