package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
)

func TestLinkedSQLite(t *testing.T) { runLinkedSuite(t, MustOpenSQLite) }

func TestLinkedPostgresIntegration(t *testing.T) { runLinkedSuite(t, MustOpenPostgres) }

func runLinkedSuite(t *testing.T, open opener) {
	t.Run("Paging", func(t *testing.T) { testLinkedPaging(t, open) })
	t.Run("Aggregates", func(t *testing.T) { testLinkedAggregates(t, open) })
	t.Run("Empty", func(t *testing.T) { testLinkedEmpty(t, open) })
}

func goldenOf(t *testing.T, s *Store, system, id string) string {
	t.Helper()
	vs, err := s.FindCustomers(context.Background(), hub.CustomerFilter{System: system, SourceID: id})
	if err != nil || len(vs) != 1 {
		t.Fatalf("golden of %s/%s: %v %v", system, id, vs, err)
	}
	return vs[0].ID
}

func applyChunked(t testing.TB, s *Store, evs []hub.Envelope) {
	t.Helper()
	for len(evs) > 0 {
		n := min(len(evs), 500)
		mustApply(t, s, evs[:n]...)
		evs = evs[n:]
	}
}

// linkedOrder is an order as the test expects to see it listed.
type linkedOrder struct {
	number, date, rkey string
}

// listOrder is the documented order: newest date first, records without
// a date last, ties by record key. Fixed-width numbers keep the record
// keys' order the same in any collation.
func listOrder(a, b linkedOrder) int {
	if c := cmp.Compare(b.date, a.date); c != 0 {
		return c
	}
	return cmp.Compare(a.rkey, b.rkey)
}

// A customer with thousands of orders, under two source records that were
// two golden customers until a bridge merged them, part of them parked
// before their customer arrived, some deleted: paged through the merged
// id, every live order comes exactly once, in order, while new orders
// arrive in between.
func testLinkedPaging(t *testing.T, open opener) {
	s := open(t, Options{})
	ctx := context.Background()
	const n = 3000
	var (
		erpOrders, crmOrders []hub.Envelope
		live                 = map[string]linkedOrder{}
		deletes              []hub.Envelope
	)
	for i := range n {
		sys, srcEntity, ref, number := "erp", "orders", "K1", fmt.Sprintf("A%05d", i)
		if i%2 == 1 {
			sys, srcEntity, ref, number = "crm", "deals", "c1", fmt.Sprintf("D%05d", i)
		}
		o := hub.Order{OrderNumber: number, CustomerRef: hub.Ref{System: sys, ID: ref}}
		if i%13 != 0 { // every 13th has no date; sixty dates, so dates are shared by many
			o.OrderDate = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i*7%60).Format(time.DateOnly)
		}
		e := ev(hub.EntityOrder, sys, srcEntity, number, 1, o)
		if sys == "erp" {
			erpOrders = append(erpOrders, e)
		} else {
			crmOrders = append(crmOrders, e)
		}
		live[number] = linkedOrder{number, o.OrderDate, sys + "/" + srcEntity + "/" + number}
		if i%97 == 5 {
			deletes = append(deletes, del(hub.EntityOrder, sys, srcEntity, number, 2))
			delete(live, number)
		}
	}
	// Someone else's orders must not show.
	other := []hub.Envelope{cust("erp", "K2", 1, hub.Customer{FamilyName: "Other", Emails: []string{"other@example.de"}})}
	for i := range 50 {
		number := fmt.Sprintf("X%05d", i)
		other = append(other, ev(hub.EntityOrder, "erp", "orders", number, 1,
			hub.Order{OrderNumber: number, CustomerRef: hub.Ref{System: "erp", ID: "K2"}, OrderDate: "2025-01-15"}))
	}
	applyChunked(t, s, erpOrders) // parked: the ERP customer is not there yet
	mustApply(t, s,
		cust("erp", "K1", 1, hub.Customer{FamilyName: "Großhandel", Emails: []string{"einkauf@example.de"}}),
		cust("crm", "c1", 1, hub.Customer{FamilyName: "Großhandel", Phones: []string{"+49301234567"}}))
	applyChunked(t, s, append(append(crmOrders, other...), deletes...))
	a, c := goldenOf(t, s, "erp", "K1"), goldenOf(t, s, "crm", "c1")
	if a == c {
		t.Fatal("K1 and c1 share a golden customer before the bridge")
	}
	if st := mustApply(t, s, cust("svc", "s1", 2, hub.Customer{FamilyName: "Großhandel",
		Emails: []string{"einkauf@example.de"}, Phones: []string{"030 1234567"}})); st.GoldenMerged != 1 {
		t.Fatalf("bridge: %+v, want one merge", st)
	}
	survivor := goldenOf(t, s, "erp", "K1")
	loser := a
	if survivor == a {
		loser = c
	}

	want := make([]linkedOrder, 0, len(live))
	for _, o := range live {
		want = append(want, o)
	}
	slices.SortFunc(want, listOrder)

	const limit = 97
	var (
		got    []string
		after  *hub.LinkCursor
		pages  int
		newest = "N99999"
	)
	for {
		v, err := s.FindCustomer360(ctx, loser, hub.LinkQuery{Orders: &hub.LinkPage{Limit: limit, After: after}})
		if err != nil {
			t.Fatal(err)
		}
		if v.ID != survivor {
			t.Fatalf("merged id %s read as %s, want the survivor %s", loser, v.ID, survivor)
		}
		if v.Payments != nil || v.Cases != nil || v.OpenBalance != nil {
			t.Fatalf("lists not asked for are read: %d payments, %d cases, balance %v", len(v.Payments), len(v.Cases), v.OpenBalance)
		}
		if len(v.Orders) > limit || (v.OrdersNext != nil && len(v.Orders) != limit) {
			t.Fatalf("page %d: %d orders, next %v", pages, len(v.Orders), v.OrdersNext)
		}
		for _, o := range v.Orders {
			got = append(got, o.OrderNumber)
		}
		pages++
		if pages == 3 {
			// Records arriving between pages do not move the boundary: a
			// newer order goes before the pages already read.
			mustApply(t, s, ev(hub.EntityOrder, "erp", "orders", newest, 3,
				hub.Order{OrderNumber: newest, CustomerRef: hub.Ref{System: "erp", ID: "K1"}, OrderDate: "2026-06-01"}))
		}
		if v.OrdersNext == nil {
			break
		}
		if pages > len(want)/limit+2 {
			t.Fatal("the cursor does not end")
		}
		after = v.OrdersNext
	}
	wantNumbers := make([]string, len(want))
	for i, o := range want {
		wantNumbers[i] = o.number
	}
	if !slices.Equal(got, wantNumbers) {
		seen := map[string]int{}
		for _, g := range got {
			seen[g]++
		}
		var dup []string
		for k, c := range seen {
			if c > 1 {
				dup = append(dup, k)
			}
		}
		t.Fatalf("paged %d orders (%d distinct, duplicates %v), want %d in list order; first difference at %d",
			len(got), len(seen), dup, len(wantNumbers), firstDiff(got, wantNumbers))
	}
	if pages != (len(want)+limit-1)/limit {
		t.Errorf("%d pages for %d orders by %d", pages, len(want), limit)
	}

	// A fresh first page starts with the order that arrived meanwhile; the
	// customer view holds the first page only.
	v, err := s.FindCustomerByID(ctx, survivor)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Orders) != DefaultLimit || v.Orders[0].OrderNumber != newest || v.Orders[1].OrderNumber != want[0].number {
		t.Fatalf("customer view: %d orders, first %+v", len(v.Orders), v.Orders[:min(2, len(v.Orders))])
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// The open balance over all payments, not the page, equals OpenBalance's
// decimal arithmetic; cases sort by their opening time in UTC whatever
// offset the source sent; the last contact is the newest date of the
// lists asked for.
func testLinkedAggregates(t *testing.T, open opener) {
	s := open(t, Options{})
	ctx := context.Background()
	ref := hub.Ref{System: "erp", ID: "K1"}
	evs := []hub.Envelope{cust("erp", "K1", 1, hub.Customer{FamilyName: "Schmidt", Emails: []string{"a@example.de"}})}
	pay := func(n, typ, amount, currency, status, date string) hub.Payment {
		return hub.Payment{DocumentNumber: n, Type: typ, CustomerRef: ref, Amount: hub.Money{Amount: amount, Currency: currency}, Status: status, Date: date}
	}
	payments := []hub.Payment{
		pay("F1", "invoice", "100.00", "EUR", "open", "2026-01-05"),
		pay("F2", "payment", "30.5", "EUR", "booked", "2026-02-12"),
		pay("F3", "credit_note", "-0.125", "EUR", "", ""),
		pay("F4", "invoice", "999.99", "EUR", "cancelled", "2026-01-06"),
		pay("F5", "invoice", "5", "EUR", "Void", ""),
		pay("F6", "invoice", "1e2", "CHF", "open", "2025-12-01"),
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 300 {
		typ := []string{"invoice", "payment", "credit_note"}[rng.IntN(3)]
		amount := fmt.Sprintf("%d", rng.IntN(100000))
		if sc := rng.IntN(4); sc > 0 {
			amount += "." + fmt.Sprintf("%0*d", sc, rng.IntN(pow10(sc)))
		}
		payments = append(payments, pay(fmt.Sprintf("P%04d", i), typ, amount, []string{"EUR", "USD"}[rng.IntN(2)], "", "2025-06-01"))
	}
	for _, p := range payments {
		evs = append(evs, ev(hub.EntityPayment, "fin", "documents", p.DocumentNumber, 1, p))
	}
	evs = append(evs, ev(hub.EntityOrder, "erp", "orders", "A1", 1, hub.Order{OrderNumber: "A1", CustomerRef: ref, OrderDate: "2026-02-10"}))
	plus2 := time.FixedZone("", 2*3600)
	at := func(tm time.Time) *time.Time { return &tm }
	cases := []hub.ServiceCase{
		// 06:30Z: older than T2 though its local time reads later.
		{CaseNumber: "T1", CustomerRef: ref, Status: "open", OpenedAt: at(time.Date(2026, 3, 1, 8, 30, 0, 0, plus2))},
		{CaseNumber: "T2", CustomerRef: ref, Status: "open", OpenedAt: at(time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC))},
		{CaseNumber: "T3", CustomerRef: ref, Status: "closed", OpenedAt: at(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)),
			ClosedAt: at(time.Date(2026, 3, 2, 10, 0, 0, 0, plus2))},
		{CaseNumber: "T4", CustomerRef: ref, Status: "open"},
	}
	for _, c := range cases {
		evs = append(evs, ev(hub.EntityServiceCase, "svc", "tickets", c.CaseNumber, 1, c))
	}
	applyChunked(t, s, evs)
	id := goldenOf(t, s, "erp", "K1")

	all := hub.LinkQuery{Orders: &hub.LinkPage{Limit: 1}, Payments: &hub.LinkPage{Limit: 2}, Cases: &hub.LinkPage{Limit: 10}}
	v, err := s.FindCustomer360(ctx, id, all)
	if err != nil {
		t.Fatal(err)
	}
	if want := OpenBalance(payments); !reflect.DeepEqual(v.OpenBalance, want) {
		t.Errorf("open balance %+v, want %+v (over all %d payments)", v.OpenBalance, want, len(payments))
	}
	if len(v.Payments) != 2 || v.Payments[0].DocumentNumber != "F2" || v.PaymentsNext == nil {
		t.Errorf("payments page: %+v next %v", v.Payments, v.PaymentsNext)
	}
	var order []string
	for _, c := range v.Cases {
		order = append(order, c.CaseNumber)
	}
	if want := []string{"T2", "T1", "T3", "T4"}; !slices.Equal(order, want) || v.CasesNext != nil {
		t.Errorf("cases %v next %v, want %v (by opening time in UTC, none last)", order, v.CasesNext, want)
	}
	// T3 closed at 08:00Z on 2 March: newer than anything else.
	for _, tc := range []struct {
		name string
		q    hub.LinkQuery
		want time.Time
	}{
		{"all", all, time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)},
		{"orders", hub.LinkQuery{Orders: &hub.LinkPage{}}, time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)},
		{"payments", hub.LinkQuery{Payments: &hub.LinkPage{}}, time.Date(2026, 2, 12, 0, 0, 0, 0, time.UTC)},
		{"orders and payments", hub.LinkQuery{Orders: &hub.LinkPage{}, Payments: &hub.LinkPage{}}, time.Date(2026, 2, 12, 0, 0, 0, 0, time.UTC)},
	} {
		v, err := s.FindCustomer360(ctx, id, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if v.LastContact == nil || !v.LastContact.Equal(tc.want) {
			t.Errorf("%s: last contact %v, want %v", tc.name, v.LastContact, tc.want)
		}
		if (tc.q.Payments == nil) != (v.OpenBalance == nil) {
			t.Errorf("%s: open balance %v", tc.name, v.OpenBalance)
		}
	}
	// Neither the balance nor the last contact depends on the page.
	next, err := s.FindCustomer360(ctx, id, hub.LinkQuery{Payments: &hub.LinkPage{Limit: 2, After: v.PaymentsNext}})
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Payments) != 2 || next.Payments[0].DocumentNumber != "F1" || !reflect.DeepEqual(next.OpenBalance, v.OpenBalance) ||
		next.LastContact == nil || !next.LastContact.Equal(time.Date(2026, 2, 12, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("second payments page: %+v, balance %v, last contact %v", next.Payments, next.OpenBalance, next.LastContact)
	}
	if v, err := s.FindCustomer360(ctx, id, hub.LinkQuery{}); err != nil || v.LastContact != nil || len(v.Sources) != 1 {
		t.Errorf("nothing asked for: %+v %v", v, err)
	}
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}

// A customer without linked records has empty lists, no cursor, no
// balance and no last contact; unknown ids are not found.
func testLinkedEmpty(t *testing.T, open opener) {
	s := open(t, Options{})
	ctx := context.Background()
	mustApply(t, s, cust("erp", "K9", 1, hub.Customer{FamilyName: "Leer"}))
	id := goldenOf(t, s, "erp", "K9")
	for _, after := range []*hub.LinkCursor{nil, {At: "2026-01-01", Key: "erp/orders/A1"}} {
		p := &hub.LinkPage{Limit: 10, After: after}
		v, err := s.FindCustomer360(ctx, id, hub.LinkQuery{Orders: p, Payments: p, Cases: p})
		if err != nil {
			t.Fatal(err)
		}
		if v.Orders == nil || len(v.Orders) != 0 || v.Payments == nil || len(v.Payments) != 0 || v.Cases == nil || len(v.Cases) != 0 {
			t.Errorf("after %v: lists %v %v %v, want empty, not absent", after, v.Orders, v.Payments, v.Cases)
		}
		if v.OrdersNext != nil || v.PaymentsNext != nil || v.CasesNext != nil || v.OpenBalance != nil || v.LastContact != nil {
			t.Errorf("after %v: %+v", after, v)
		}
	}
	if _, err := s.FindCustomer360(ctx, "no-such-id", hub.LinkQuery{}); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
}

// BenchmarkCustomer360 reads, for customers with 100 and with 10,000
// orders, one page of 50 orders from the middle of the list (page) and
// the customer view FindCustomerByID returns (view: golden record, first
// page of each list, open balance). Time and bytes per read should not
// depend on the count; before paging in SQL, the view loaded every order
// (about 65 ms and 15 MB per read at 10,000). records/s counts the orders
// returned.
func BenchmarkCustomer360SQLite(b *testing.B)   { benchCustomer360(b, MustOpenSQLite) }
func BenchmarkCustomer360Postgres(b *testing.B) { benchCustomer360(b, MustOpenPostgres) }

func benchCustomer360(b *testing.B, open opener) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("orders=%d", n), func(b *testing.B) {
			s := open(b, Options{})
			ctx := context.Background()
			evs := []hub.Envelope{cust("erp", "K1", 1, hub.Customer{FamilyName: "Großhandel"})}
			for i := range n {
				number := fmt.Sprintf("A%06d", i)
				evs = append(evs, ev(hub.EntityOrder, "erp", "orders", number, 1, hub.Order{OrderNumber: number,
					CustomerRef: hub.Ref{System: "erp", ID: "K1"}, OrderDate: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/4).Format(time.DateOnly),
					Total: &hub.Money{Amount: "1250.00", Currency: "EUR"}}))
			}
			for len(evs) > 0 {
				k := min(len(evs), 1000)
				mustApply(b, s, evs[:k]...)
				evs = evs[k:]
			}
			vs, err := s.FindCustomers(ctx, hub.CustomerFilter{System: "erp", SourceID: "K1"})
			if err != nil || len(vs) != 1 {
				b.Fatal(vs, err)
			}
			id := vs[0].ID
			// The cursor half way down the list.
			var after *hub.LinkCursor
			for range n / 2 / 50 {
				v, err := s.FindCustomer360(ctx, id, hub.LinkQuery{Orders: &hub.LinkPage{Limit: 50, After: after}})
				if err != nil {
					b.Fatal(err)
				}
				after = v.OrdersNext
			}
			b.Run("page", func(b *testing.B) {
				q := hub.LinkQuery{Orders: &hub.LinkPage{Limit: 50, After: after}}
				b.ReportAllocs()
				records := 0
				start := time.Now()
				for b.Loop() {
					v, err := s.FindCustomer360(ctx, id, q)
					if err != nil || len(v.Orders) != 50 {
						b.Fatal(len(v.Orders), err)
					}
					records += len(v.Orders)
				}
				b.ReportMetric(float64(records)/time.Since(start).Seconds(), "records/s")
			})
			b.Run("view", func(b *testing.B) {
				b.ReportAllocs()
				records := 0
				start := time.Now()
				for b.Loop() {
					v, err := s.FindCustomerByID(ctx, id)
					if err != nil || len(v.Orders) != DefaultLimit {
						b.Fatal(len(v.Orders), err)
					}
					records += len(v.Orders)
				}
				b.ReportMetric(float64(records)/time.Since(start).Seconds(), "records/s")
			})
		})
	}
}
