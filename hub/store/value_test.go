package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/value"
)

func TestValueSQLite(t *testing.T) { runValueSuite(t, MustOpenSQLite) }

func TestValuePostgresIntegration(t *testing.T) { runValueSuite(t, MustOpenPostgres) }

func runValueSuite(t *testing.T, open opener) {
	t.Run("Delivery", func(t *testing.T) { testValueDelivery(t, open) })
	t.Run("MergeUnmerge", func(t *testing.T) { testValueMerge(t, open) })
	t.Run("Refresh", func(t *testing.T) { testValueRefresh(t, open) })
	t.Run("RefreshPages", func(t *testing.T) { testValueRefreshPages(t, open) })
	t.Run("Off", func(t *testing.T) { testValueOff(t, open) })
	t.Run("Deferred", func(t *testing.T) { testValueDeferred(t, open) })
	t.Run("CutStale", func(t *testing.T) { testValueCutStale(t, open) })
	t.Run("CutStalePending", func(t *testing.T) { testValueCutStalePending(t, open) })
	t.Run("GoldenChanges", func(t *testing.T) { testValueGoldenChanges(t, open, false) })
	t.Run("GoldenChangesDeferred", func(t *testing.T) { testValueGoldenChanges(t, open, true) })
	t.Run("BlockOfOldRows", func(t *testing.T) { testValueBlockOfOldRows(t, open) })
}

// A golden state's value block reads the block column (0029); a row
// written before it (block NULL) gives the same block from its figures.
func testValueBlockOfOldRows(t *testing.T, open opener) {
	ctx := context.Background()
	s := openValue(t, open, Options{})
	d := genValue(11, 12)
	mustApply(t, s, d.events...)
	blocks := func() map[string]string {
		var ids []string
		for _, v := range snapshot(t, s) {
			ids = append(ids, v.ID)
		}
		states, err := s.GoldenStates(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for id, g := range states {
			out[id] = string(mustJSON(t, g.Value))
		}
		return out
	}
	want := blocks()
	var open_, revenue int
	for _, b := range want {
		var v hub.ValueSummary
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			t.Fatal(err)
		}
		if len(v.OpenBalance) > 0 {
			open_++
		}
		if len(v.Revenue12mByCurrency) > 0 && v.AsOf != "" {
			revenue++
		}
	}
	if len(want) != 12 || open_ == 0 || revenue == 0 {
		t.Fatalf("%d blocks, %d with an open balance, %d with revenue: want 12 and some of each", len(want), open_, revenue)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE customer_value SET block = NULL`); err != nil {
		t.Fatal(err)
	}
	got := blocks()
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: block from the figures %s, from the column %s", id, got[id], w)
		}
	}
}

var valueNow = time.Date(2026, 6, 30, 9, 0, 0, 0, time.UTC)

func openValue(t *testing.T, open opener, opts Options) *Store {
	s := open(t, opts)
	s.val.now = func() time.Time { return valueNow }
	return s
}

// valueData is a generated world: customers crm/C0..Cn-1 and the orders,
// payments and cases the ERP and the service desk hold for them, raw,
// for the straightforward recomputation.
type valueData struct {
	events []hub.Envelope
	raw    map[string]*value.Input // customer source id -> its linked records (live versions)
}

func genValue(seed uint64, customers int) valueData {
	r := rand.New(rand.NewPCG(seed, 7))
	d := valueData{raw: map[string]*value.Input{}}
	cats, chans, regions := []string{"tools", "paint", "garden"}, []string{"web", "store", "phone"}, []string{"north", "south"}
	minute := 0
	for c := range customers {
		id := fmt.Sprintf("C%02d", c)
		d.events = append(d.events, cust("crm", id, minute, hub.Customer{GivenName: "Given" + id, FamilyName: fmt.Sprintf("Family%c", 'A'+c),
			Emails: []string{fmt.Sprintf("c%d@example%d.com", c, c)}, CreditLimit: &hub.Money{Amount: "1000", Currency: "EUR"}}))
		in := &value.Input{}
		d.raw[id] = in
		// Buying patterns, so every stage shows: days ago of each order.
		var ago []int
		switch c % 6 {
		case 0: // regular: monthly, still buying
			for k := range 2 + r.IntN(8) {
				ago = append(ago, 30*k+r.IntN(5))
			}
		case 1: // one-off, recent
			ago = []int{r.IntN(60)}
		case 2: // lapsed: monthly until two years ago
			for k := range 2 + r.IntN(5) {
				ago = append(ago, 700+30*k)
			}
		case 3: // at risk: monthly, silent for three months
			for k := range 3 + r.IntN(4) {
				ago = append(ago, 95+30*k)
			}
		case 4: // won back: monthly long ago, one order last week
			ago = []int{r.IntN(7), 500, 530, 560}
		default: // anything
			for range r.IntN(12) {
				ago = append(ago, r.IntN(800))
			}
		}
		for o, daysAgo := range ago {
			no := fmt.Sprintf("%s-O%02d", id, o)
			date := valueNow.AddDate(0, 0, -daysAgo).Format(time.DateOnly)
			amt := decimal.New(int64(1000+r.IntN(90000)), -2)
			ord := hub.Order{OrderNumber: no, CustomerRef: hub.Ref{System: "crm", ID: id}, OrderDate: date,
				Status: []string{"delivered", "delivered", "delivered", "delivered", "delivered", "delivered", "cancelled", "returned"}[r.IntN(8)],
				Total:  &hub.Money{Amount: amt.StringFixed(2), Currency: "EUR"}, Channel: chans[r.IntN(3)], Region: regions[r.IntN(2)],
				Lines: []hub.OrderLine{{LineNo: 1, Quantity: "1", Amount: &hub.Money{Amount: amt.StringFixed(2), Currency: "EUR"},
					Category: cats[r.IntN(3)], Cost: &hub.Money{Amount: amt.Div(decimal.NewFromInt(2)).StringFixed(2), Currency: "EUR"}}}}
			in.Orders = append(in.Orders, ord)
			d.events = append(d.events, ev(hub.EntityOrder, "erp", "orders", no, minute, ord))
			inv := hub.Payment{DocumentNumber: "I" + no, Type: "invoice", CustomerRef: ord.CustomerRef, Date: date,
				DueDate: valueNow.AddDate(0, 0, -r.IntN(800)+30).Format(time.DateOnly), Amount: *ord.Total}
			in.Payments = append(in.Payments, inv)
			d.events = append(d.events, ev(hub.EntityPayment, "erp", "documents", inv.DocumentNumber, minute, inv))
			if r.IntN(3) > 0 {
				pay := hub.Payment{DocumentNumber: "P" + no, Type: "payment", CustomerRef: ord.CustomerRef,
					Date: valueNow.AddDate(0, 0, -r.IntN(700)).Format(time.DateOnly), Amount: *ord.Total, Reference: inv.DocumentNumber}
				in.Payments = append(in.Payments, pay)
				d.events = append(d.events, ev(hub.EntityPayment, "erp", "documents", pay.DocumentNumber, minute, pay))
			}
		}
		for k := range r.IntN(3) {
			opened := valueNow.Add(-time.Duration(r.IntN(3000)) * time.Hour)
			sc := hub.ServiceCase{CaseNumber: fmt.Sprintf("%s-S%d", id, k), CustomerRef: hub.Ref{System: "crm", ID: id},
				Status: []string{"open", "closed"}[r.IntN(2)], OpenedAt: &opened}
			if sc.Status == "closed" {
				closed := opened.Add(time.Duration(r.IntN(100)) * time.Hour)
				sc.ClosedAt = &closed
			}
			in.Cases = append(in.Cases, sc)
			d.events = append(d.events, ev(hub.EntityServiceCase, "desk", "cases", sc.CaseNumber, minute, sc))
		}
		minute++
	}
	return d
}

// wantFigures is the straightforward recomputation from raw records.
func wantFigures(t *testing.T, ins ...*value.Input) string {
	t.Helper()
	all := value.Input{CreditLimit: &hub.Money{Amount: "1000", Currency: "EUR"}}
	for _, in := range ins {
		all.Orders = append(all.Orders, in.Orders...)
		all.Payments = append(all.Payments, in.Payments...)
		all.Cases = append(all.Cases, in.Cases...)
	}
	return figuresJSON(t, value.Compute(all, valueNow, value.DefaultConfig()))
}

func figuresJSON(t *testing.T, f value.Figures) string {
	t.Helper()
	f.Segment = value.Segment{} // scored against all customers, checked in Refresh
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func storedJSON(t *testing.T, s *Store, golden string) string {
	t.Helper()
	f, err := s.CustomerValue(context.Background(), golden)
	if err != nil {
		t.Fatal(err)
	}
	if f == nil {
		return "none"
	}
	return figuresJSON(t, *f)
}

// Figures equal a recomputation from the raw records, whatever order and
// however often the records arrive.
func testValueDelivery(t *testing.T, open opener) {
	d := genValue(1, 12)
	inOrder := openValue(t, open, Options{})
	applyChunked(t, inOrder, d.events)
	shuffled := openValue(t, open, Options{})
	r := rand.New(rand.NewPCG(3, 4))
	evs := append(append([]hub.Envelope(nil), d.events...), d.events[:len(d.events)/2]...)
	r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	for len(evs) > 0 {
		n := min(len(evs), 1+r.IntN(40))
		mustApply(t, shuffled, evs[:n]...)
		evs = evs[n:]
	}
	for id, in := range d.raw {
		want := wantFigures(t, in)
		for name, s := range map[string]*Store{"in order": inOrder, "shuffled": shuffled} {
			if got := storedJSON(t, s, goldenOf(t, s, "crm", id)); got != want {
				t.Errorf("%s: %s:\n got %s\nwant %s", name, id, got, want)
			}
		}
	}
	checkTotals(t, inOrder, d)
	checkTotals(t, shuffled, d)

	// A deleted order leaves the figures; a re-pointed one moves them.
	moved := d.raw["C01"].Orders[0]
	if len(d.raw["C01"].Orders) == 0 {
		t.Fatal("generator gave C01 no order")
	}
	moved.CustomerRef.ID = "C02"
	mustApply(t, inOrder, ev(hub.EntityOrder, "erp", "orders", moved.OrderNumber, 10000, moved))
	d.raw["C01"].Orders = d.raw["C01"].Orders[1:]
	d.raw["C02"].Orders = append(d.raw["C02"].Orders, moved)
	gone := d.raw["C03"].Payments[0]
	mustApply(t, inOrder, del(hub.EntityPayment, "erp", "documents", gone.DocumentNumber, 10000))
	d.raw["C03"].Payments = d.raw["C03"].Payments[1:]
	for _, id := range []string{"C01", "C02", "C03"} {
		if got, want := storedJSON(t, inOrder, goldenOf(t, inOrder, "crm", id)), wantFigures(t, d.raw[id]); got != want {
			t.Errorf("after move and delete: %s:\n got %s\nwant %s", id, got, want)
		}
	}
	checkTotals(t, inOrder, d)
}

// checkTotals compares the analytics totals with the sum over customers.
func checkTotals(t *testing.T, s *Store, d valueData) {
	t.Helper()
	want := map[string]map[string]decimal.Decimal{}
	for _, in := range d.raw {
		f := value.Compute(*in, valueNow, value.DefaultConfig())
		for dim, m := range map[string]map[string][]hub.Money{"category": f.Revenue.ByCategory, "channel": f.Revenue.ByChannel, "month": f.Revenue.ByMonth} {
			if want[dim] == nil {
				want[dim] = map[string]decimal.Decimal{}
			}
			for k, ms := range m {
				for _, x := range ms {
					want[dim][k+" "+x.Currency] = want[dim][k+" "+x.Currency].Add(decimal.RequireFromString(x.Amount))
				}
			}
		}
	}
	wantMargin := map[string]decimal.Decimal{}
	for _, in := range d.raw {
		if m := value.Compute(*in, valueNow, value.DefaultConfig()).Margin; m != nil {
			for k, ms := range m.ByCategory {
				for _, x := range ms {
					wantMargin[k+" "+x.Currency] = wantMargin[k+" "+x.Currency].Add(decimal.RequireFromString(x.Amount))
				}
			}
		}
	}
	rows, err := s.RevenueBy(context.Background(), "category")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		w, ok := wantMargin[r.Key+" "+r.Revenue.Currency]
		if !ok || r.Margin == nil || r.Margin.Amount != w.StringFixed(2) {
			t.Errorf("margin of category %s %s: %+v, want %s", r.Key, r.Revenue.Currency, r.Margin, w.StringFixed(2))
		}
	}
	for dim, w := range want {
		rows, err := s.RevenueBy(context.Background(), dim)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range rows {
			got[r.Key+" "+r.Revenue.Currency] = r.Revenue.Amount
		}
		if len(got) != len(w) {
			t.Errorf("revenue by %s: %d rows, want %d: %v", dim, len(got), len(w), got)
		}
		for k, v := range w {
			if got[k] != v.StringFixed(2) {
				t.Errorf("revenue by %s %s: %s, want %s", dim, k, got[k], v.StringFixed(2))
			}
		}
	}
}

// A merge moves the figures with the records, an unmerge moves them back.
func testValueMerge(t *testing.T, open opener) {
	ctx := context.Background()
	d := genValue(2, 6)
	s := openValue(t, open, Options{})
	applyChunked(t, s, d.events)
	ga, gb := goldenOf(t, s, "crm", "C01"), goldenOf(t, s, "crm", "C02")
	surv, err := s.ForceMerge(ctx, ga, gb, "steward@x", "same firm")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := storedJSON(t, s, surv), wantFigures(t, d.raw["C01"], d.raw["C02"]); got != want {
		t.Errorf("merged:\n got %s\nwant %s", got, want)
	}
	gone := ga
	if surv == ga {
		gone = gb
	}
	if got := storedJSON(t, s, gone); got != "none" {
		t.Errorf("merged-away customer keeps figures: %s", got)
	}
	checkTotals(t, s, d)
	if _, err := s.Unmerge(ctx, surv, "crm/customers/C02", "steward@x", "not the same"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"C01", "C02"} {
		if got, want := storedJSON(t, s, goldenOf(t, s, "crm", id)), wantFigures(t, d.raw[id]); got != want {
			t.Errorf("unmerged %s:\n got %s\nwant %s", id, got, want)
		}
	}
	checkTotals(t, s, d)
	checkSegmentCount(t, s, 6)
	if _, err := s.RefreshValue(ctx, valueNow, 100); err != nil {
		t.Fatal(err)
	}
	checkSegmentCount(t, s, 6)
}

// A refresh recomputes every customer without figures or with figures of
// an earlier day, page by page, the two kinds interleaved in id order, and
// each once: the figures come back as a recomputation from the records.
func testValueRefreshPages(t *testing.T, open opener) {
	ctx := context.Background()
	d := genValue(5, 23)
	s := openValue(t, open, Options{})
	applyChunked(t, s, d.events)
	want := map[string]string{}
	var goldens []string
	for id := range d.raw {
		g := goldenOf(t, s, "crm", id)
		want[g] = storedJSON(t, s, g)
		goldens = append(goldens, g)
	}
	sort.Strings(goldens)
	// Every third customer loses its figures, every other one's are of
	// an earlier day: the two sets alternate in id order.
	var missing, stale int
	for i, g := range goldens {
		switch {
		case i%3 == 0:
			if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM customer_value WHERE golden_id = ?`), g); err != nil {
				t.Fatal(err)
			}
			missing++
		case i%2 == 0:
			if _, err := s.db.ExecContext(ctx, s.q(`UPDATE customer_value SET as_of = '2001-01-01',
  figures = replace(figures, '"as_of":"2026-06-30"', '"as_of":"2001-01-01"') WHERE golden_id = ?`), g); err != nil {
				t.Fatal(err)
			}
			stale++
		}
	}
	old := refreshPage
	refreshPage = 2
	t.Cleanup(func() { refreshPage = old })
	st, err := s.RefreshValue(ctx, valueNow, 5) // a bound below the work: pages stop at it
	if err != nil {
		t.Fatal(err)
	}
	if st.Recomputed != 5 {
		t.Fatalf("bounded refresh recomputed %d customers, want 5", st.Recomputed)
	}
	st, err = s.RefreshValue(ctx, valueNow, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if st.Recomputed != missing+stale-5 {
		t.Errorf("refresh recomputed %d customers, want the %d left of %d without figures and %d stale", st.Recomputed, missing+stale-5, missing, stale)
	}
	for _, g := range goldens {
		if got := storedJSON(t, s, g); got != want[g] {
			t.Errorf("%s after the refresh:\n got %s\nwant %s", g, got, want[g])
		}
	}
	if st, err = s.RefreshValue(ctx, valueNow, 1000); err != nil || st.Recomputed != 0 {
		t.Errorf("a second refresh recomputed %d customers (%v), want none", st.Recomputed, err)
	}
}

// Refresh scores every customer against all, and the lists follow.
func testValueRefresh(t *testing.T, open opener) {
	ctx := context.Background()
	d := genValue(3, 20)
	s := openValue(t, open, Options{})
	applyChunked(t, s, d.events)
	st, err := s.RefreshValue(ctx, valueNow, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if st.Recomputed != 0 || st.Customers == 0 || st.Rescored == 0 {
		t.Errorf("refresh %+v", st)
	}
	segs, err := s.Segments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sg := range segs {
		n += sg.Customers
	}
	if n != 20 {
		t.Errorf("segments count %d customers, want 20: %+v", n, segs)
	}
	// The list by revenue, paged, is sorted and complete.
	var all []value.ListItem
	f := value.ListFilter{Desc: true, Limit: 7}
	for {
		page, err := s.ValueCustomers(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < f.Limit {
			break
		}
		f.After = value.ListCursor(page[len(page)-1])
	}
	if len(all) != 20 || !sort.SliceIsSorted(all, func(i, j int) bool {
		return decimal.RequireFromString(all[i].Revenue12m.Amount).GreaterThan(decimal.RequireFromString(all[j].Revenue12m.Amount))
	}) {
		t.Errorf("list by revenue: %d items, sorted %v", len(all), all)
	}
	for _, it := range all {
		f, err := s.CustomerValue(ctx, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if f.Revenue.Orders > 0 && f.Segment.RFM == "" || f.Segment.ABC == "" || string(f.Loyalty.Stage) != it.Stage {
			t.Errorf("%s: segment %+v stage %s, list %+v", it.ID, f.Segment, f.Loyalty.Stage, it)
		}
	}
	// The buying patterns populate every stage and the segments.
	stages, segments := map[string]bool{}, map[string]bool{}
	for _, it := range all {
		stages[it.Stage] = true
		segments[it.Segment] = true
	}
	for _, st := range value.Stages {
		if !stages[string(st)] {
			t.Errorf("no customer in stage %s (stages %v)", st, stages)
		}
	}
	if len(segments) < 4 {
		t.Errorf("only segments %v", segments)
	}
	// A year later every customer without a new order has moved on.
	later, err := s.RefreshValue(ctx, valueNow.AddDate(1, 0, 0), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if later.Recomputed != 20 {
		t.Errorf("a year later: recomputed %d, want 20", later.Recomputed)
	}
	lapsed, err := s.ValueCustomers(ctx, value.ListFilter{Stage: "lapsed", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	withOrders := 0
	for _, in := range d.raw {
		if f := value.Compute(*in, valueNow, value.DefaultConfig()); f.Loyalty.Stage != value.StageNone {
			withOrders++
		}
	}
	if len(lapsed) != withOrders {
		t.Errorf("a year later %d lapsed, want every customer with orders (%d)", len(lapsed), withOrders)
	}
}

// With the figures off nothing is computed.
func testValueOff(t *testing.T, open opener) {
	d := genValue(4, 3)
	s := openValue(t, open, Options{Value: ValueOptions{Off: true}})
	applyChunked(t, s, d.events)
	if got := storedJSON(t, s, goldenOf(t, s, "crm", "C00")); got != "none" {
		t.Errorf("figures off, yet stored: %s", got)
	}
}

// Deferred, apply marks and DrainValue computes the same figures (on a
// store past its first fill: a new one sweeps instead, value_sweep_test.go).
func testValueDeferred(t *testing.T, open opener) {
	d := genValue(5, 8)
	s := openValue(t, open, Options{Value: ValueOptions{Deferred: true}})
	firstFillDone(t, s)
	applyChunked(t, s, d.events)
	if got := storedJSON(t, s, goldenOf(t, s, "crm", "C00")); got != "none" {
		t.Errorf("deferred, yet computed on apply: %s", got)
	}
	total := drainAll(t, s, 3)
	// 8 golden ids and the 8 customer references of linked records.
	if total != 16 {
		t.Errorf("drained %d marks, want 16 (each once)", total)
	}
	for id, in := range d.raw {
		if got, want := storedJSON(t, s, goldenOf(t, s, "crm", id)), wantFigures(t, in); got != want {
			t.Errorf("%s:\n got %s\nwant %s", id, got, want)
		}
	}
	checkTotals(t, s, d)
}

// checkSegmentCount: the segment groups count every customer once.
func checkSegmentCount(t *testing.T, s *Store, want int64) {
	t.Helper()
	segs, err := s.Segments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sg := range segs {
		n += sg.Customers
	}
	if n != want {
		t.Errorf("segments count %d customers, want %d: %+v", n, want, segs)
	}
}

// customerAt is the index of the customer record id among events (its
// orders follow it): the events before are customers C0 to id's
// predecessor with all of theirs.
func customerAt(events []hub.Envelope, id string) int {
	for i, e := range events {
		if e.Entity == hub.EntityCustomer && e.SourceID == id {
			return i
		}
	}
	return len(events)
}

// staleCheck returns a check that the RFM/ABC cut is stale, or not, at a
// named moment of a test.
func staleCheck(t *testing.T, s *Store) func(want bool, when string) {
	return func(want bool, when string) {
		t.Helper()
		got, err := s.ValueCutStale(context.Background(), false)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: stale %v, want %v", when, got, want)
		}
	}
}

// The cut is stale while customers with orders exist and none was cut
// from them, and again once their number grew by more than a quarter.
func testValueCutStale(t *testing.T, open opener) {
	ctx := context.Background()
	d := genValue(6, 20)
	s := openValue(t, open, Options{})
	stale := staleCheck(t, s)
	refresh := func() {
		t.Helper()
		if _, err := s.RefreshValue(ctx, valueNow, 0); err != nil {
			t.Fatal(err)
		}
	}
	refresh()
	stale(false, "empty store, cut from no customer")
	half := customerAt(d.events, "C10")
	applyChunked(t, s, d.events[:half])
	stale(true, "customers with orders, cut from none")
	refresh()
	stale(false, "just cut")
	applyChunked(t, s, d.events[half:])
	stale(true, "twice the customers since the cut")
	refresh()
	stale(false, "cut again")
}

// On the golden change feed an order that moves neither stage, segment
// nor ABC class adds nothing (its revenue rides along with the next
// change), and one that moves the stage adds one value change, whose
// state carries the value block.
func testValueGoldenChanges(t *testing.T, open opener, deferred bool) {
	ctx := context.Background()
	s := openValue(t, open, Options{Value: ValueOptions{Deferred: deferred}})
	drain := func() {
		t.Helper()
		if deferred {
			drainAll(t, s, 100)
		}
	}
	order := func(cust, no string, daysAgo int, amount string) hub.Envelope {
		return ev(hub.EntityOrder, "erp", "orders", no, 0, hub.Order{OrderNumber: no, CustomerRef: hub.Ref{System: "crm", ID: cust},
			OrderDate: valueNow.AddDate(0, 0, -daysAgo).Format(time.DateOnly), Status: "delivered",
			Total: &hub.Money{Amount: amount, Currency: "EUR"}})
	}
	mustApply(t, s,
		cust("crm", "N", 0, hub.Customer{GivenName: "Nora", FamilyName: "New", Emails: []string{"nora@example.com"}}),
		cust("crm", "L", 0, hub.Customer{GivenName: "Lars", FamilyName: "Lapsed", Emails: []string{"lars@example.org"}}),
		order("N", "N0", 40, "20.00"), order("N", "N1", 10, "80.00"), order("L", "L1", 800, "50.00"), order("L", "L2", 770, "50.00"))
	drain()
	if _, err := s.RefreshValue(ctx, valueNow, 0); err != nil {
		t.Fatal(err)
	}
	nID, lID := goldenOf(t, s, "crm", "N"), goldenOf(t, s, "crm", "L")
	seq := lastSeq(t, s)
	before, err := s.CustomerValue(ctx, nID)
	if err != nil || before == nil {
		t.Fatalf("figures of N: %v %v", before, err)
	}

	mustApply(t, s, order("N", "N2", 5, "80.00"))
	// Two orders before, three now: the frequency cut (both customers
	// had two) still scores N 5.
	drain()
	after, err := s.CustomerValue(ctx, nID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Revenue.Orders != 3 || after.Loyalty.Stage != before.Loyalty.Stage || after.Segment != before.Segment {
		t.Fatalf("second order of N: orders %d, stage %s -> %s, segment %+v -> %+v (the test wants a move of nothing)",
			after.Revenue.Orders, before.Loyalty.Stage, after.Loyalty.Stage, before.Segment, after.Segment)
	}
	if got := changesAfter(t, s, seq); len(got) != 0 {
		t.Errorf("an order that moved no class added to the golden change feed: %+v", got)
	}

	mustApply(t, s, order("L", "L3", 1, "70.00"))
	drain()
	got := changesAfter(t, s, seq)
	if len(got) != 1 || got[0].GoldenID != lID || got[0].Op != hub.ChangeValue {
		t.Fatalf("L won back: feed %+v, want one %q change of %s", got, hub.ChangeValue, lID)
	}
	states, err := s.GoldenStates(ctx, []string{lID, nID})
	if err != nil {
		t.Fatal(err)
	}
	v := states[lID].Value
	if v == nil || v.Stage != string(value.StageWonBack) || v.ABC == "" || v.Segment == "" ||
		v.Revenue12m != (hub.Money{Amount: "70.00", Currency: "EUR"}) || len(v.Revenue12mByCurrency) != 1 {
		t.Errorf("value block of L: %+v", v)
	}
	// N's revenue rides along: its block has the second order.
	if v := states[nID].Value; v == nil || v.Revenue12m.Amount != "180.00" {
		t.Errorf("value block of N: %+v, want revenue_12m 180.00", v)
	}
}

func lastSeq(t *testing.T, s *Store) int64 {
	t.Helper()
	var seq int64
	for {
		page := changesAfter(t, s, seq)
		if len(page) == 0 {
			return seq
		}
		seq = page[len(page)-1].Seq
	}
}

func changesAfter(t *testing.T, s *Store, seq int64) []hub.GoldenChange {
	t.Helper()
	got, err := s.Changes(context.Background(), seq, 500)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// drainAll runs the deferred recompute until no mark is left, max marks
// at a time, and returns how many it took.
// firstFillDone ends the first fill's sweep of a new, empty store (it
// passes no golden), so that apply marks from the start, as in a store in
// use.
func firstFillDone(tb testing.TB, s *Store) {
	tb.Helper()
	if _, err := s.DrainValue(context.Background(), 10); err != nil {
		tb.Fatal(err)
	}
	if !s.val.sweep.gone.Load() {
		tb.Fatal("the first fill's sweep of an empty store did not end")
	}
}

func drainAll(tb testing.TB, s *Store, max int) int {
	tb.Helper()
	total := 0
	for {
		n, err := s.DrainValue(context.Background(), max)
		if err != nil {
			tb.Fatal(err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

// TestCustomerValuePrepared: reading one customer's figures reuses a
// prepared statement instead of preparing its query per request.
func TestCustomerValuePrepared(t *testing.T) {
	s := MustOpenSQLite(t, Options{})
	ctx := context.Background()
	query := s.q(`SELECT figures, stage, segment, rfm, abc FROM customer_value WHERE golden_id = ?`)
	for i := range 3 {
		if f, err := s.CustomerValue(ctx, "none"); f != nil || err != nil {
			t.Fatalf("read %d: %v %v", i, f, err)
		}
		s.reads.wg.Wait() // the statement is prepared in the background
	}
	s.reads.mu.Lock()
	defer s.reads.mu.Unlock()
	if s.reads.m[query] == nil {
		t.Fatalf("CustomerValue's query is not in the read statement cache: %d statements", len(s.reads.m))
	}
}

// With deferred marks pending (a sync's customers about to move), the
// cut waits for twice the customers, as while apply is busy; once they
// are recomputed, the quarter applies again.
func testValueCutStalePending(t *testing.T, open opener) {
	ctx := context.Background()
	d := genValue(6, 20)
	s := openValue(t, open, Options{Value: ValueOptions{Deferred: true}})
	stale := staleCheck(t, s)
	// Customers C0-C9 with their orders, recomputed and cut.
	half := customerAt(d.events, "C10")
	applyChunked(t, s, d.events[:half])
	drainAll(t, s, 100)
	if _, err := s.RefreshValue(ctx, valueNow, 0); err != nil {
		t.Fatal(err)
	}
	stale(false, "just cut")
	// The rest, recomputed in part: more customers with orders than a
	// quarter over the cut, fewer than four times, and marks pending.
	applyChunked(t, s, d.events[half:])
	b, err := s.valueBreaks(ctx, s.rdb)
	if err != nil {
		t.Fatal(err)
	}
	n := segmentCustomers(t, s)
	for 4*n <= 5*int64(b.Customers) {
		if k, err := s.DrainValue(ctx, 1); err != nil || k == 0 {
			t.Fatalf("setup: drained %d (%v) with %d customers with orders against a cut from %d", k, err, n, b.Customers)
		}
		n = segmentCustomers(t, s)
	}
	if pending, err := s.ValuePending(ctx); err != nil || pending == 0 || 4*n <= 5*int64(b.Customers) || n >= 4*int64(b.Customers) {
		t.Fatalf("setup: %d marks pending (%v), %d customers with orders against a cut from %d: want some pending, between 125%% and 400%%", pending, err, n, b.Customers)
	}
	stale(false, "marks pending, fewer than four times the customers")
	drainAll(t, s, 100)
	stale(true, "marks recomputed, more than a quarter over the cut")
}

// segmentCustomers counts the customers with orders, as ValueCutStale does.
func segmentCustomers(t *testing.T, s *Store) int64 {
	t.Helper()
	groups, err := s.Segments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, g := range groups {
		if g.Stage != string(value.StageNone) {
			n += g.Customers
		}
	}
	return n
}
