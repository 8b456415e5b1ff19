package store

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/value"
)

// valueBenchEvents makes n canonical records of a stream a business
// sends: per customer one customer record, 6 orders, 6 invoices, 4
// payments and 1 service case (18 records), emitted in rounds (every
// customer's first record, then every customer's second, ...), so each
// order, invoice or case lands on a customer that holds records already,
// as in a running sync.
func valueBenchEvents(n int) []hub.Envelope {
	return valueBenchStream(max((n+17)/18, 1), 6)[:n]
}

// valueBenchStream is valueBenchEvents' stream for so many customers with
// so many orders each (6: 18 records a customer; 10: 28).
func valueBenchStream(customers, orders int) []hub.Envelope {
	n := 0
	per := make([][]hub.Envelope, customers)
	cats, chans := []string{"tools", "paint", "garden", "wood"}, []string{"web", "store", "phone"}
	for c := range customers {
		id := fmt.Sprintf("V%d", c)
		ref := hub.Ref{System: "erp", ID: id}
		evs := []hub.Envelope{cust("erp", id, 1, hub.Customer{FamilyName: fmt.Sprintf("Value%d", c), GivenName: "G",
			Emails: []string{fmt.Sprintf("v%d@example.de", c)}, CreditLimit: &hub.Money{Amount: "5000.00", Currency: "EUR"}})}
		for o := range orders {
			no := fmt.Sprintf("%s-%d", id, o)
			date := time.Date(2025, time.Month(1+(c+o*2)%12), 1+c%28, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
			amt := &hub.Money{Amount: fmt.Sprintf("%d.%02d", 20+c%200, o), Currency: "EUR"}
			evs = append(evs,
				ev(hub.EntityOrder, "erp", "orders", no, 1, hub.Order{OrderNumber: no, CustomerRef: ref, OrderDate: date, Status: "delivered",
					Total: amt, Channel: chans[(c+o)%3], Region: "north", Lines: []hub.OrderLine{{LineNo: 1, Quantity: "1", Amount: amt,
						Category: cats[(c+o)%4], Cost: &hub.Money{Amount: "10.00", Currency: "EUR"}}}}),
				ev(hub.EntityPayment, "erp", "documents", "I"+no, 1, hub.Payment{DocumentNumber: "I" + no, Type: "invoice", CustomerRef: ref,
					Date: date, DueDate: date, Amount: *amt}))
			if o < orders*2/3 {
				evs = append(evs, ev(hub.EntityPayment, "erp", "documents", "P"+no, 1, hub.Payment{DocumentNumber: "P" + no, Type: "payment",
					CustomerRef: ref, Date: date, Amount: *amt, Reference: "I" + no}))
			}
		}
		opened := time.Date(2026, 1, 1+c%28, 9, 0, 0, 0, time.UTC)
		evs = append(evs, ev(hub.EntityServiceCase, "desk", "cases", "S"+id, 1, hub.ServiceCase{CaseNumber: "S" + id, CustomerRef: ref,
			Status: "open", OpenedAt: &opened}))
		per[c] = evs
		n += len(evs)
	}
	out := make([]hub.Envelope, 0, n)
	for r := 0; len(out) < n; r++ {
		for c := range per {
			if r < len(per[c]) && len(out) < n {
				out = append(out, per[c][r])
			}
		}
	}
	return out
}

// BenchmarkApplyValue is apply throughput with the value figures
// recomputed in every batch (sync), marked for the deferred recompute
// (deferred, reporting the recompute's own CPU after the run; drained,
// with the recompute between batches counted in) and off, on
// the stream of valueBenchEvents (fuzzy matching on, as a production
// config has it):
//
//	go test -run '^$' -bench 'ApplyValue' -benchtime 36000x ./hub/store
func BenchmarkApplyValue(b *testing.B) {
	// drained: the deferred recompute runs between batches every
	// drainEvery records, as the server's does every value.delay (1s is
	// about 7,000 records of this stream on the shared machine), and its
	// CPU counts in cpu-µs/record: the figures' whole cost, comparable
	// with off. A customer touched in several periods is recomputed once
	// per period.
	drainEvery := 7000
	if n, err := strconv.Atoi(os.Getenv("CRMHUB_BENCH_DRAIN_EVERY")); err == nil && n > 0 {
		drainEvery = n
	}
	// paced: as the server paces it (internal/app/server runValueDrain):
	// a pass after 1s of apply or 4 times the last pass's duration,
	// whichever is longer, taking the customers that settled
	// (DrainSettled: untouched for 1s, or a change pending for 30s). At
	// the end of the run the sync stops, every customer settles, and the
	// rest is recomputed (counted in).
	for _, tc := range []struct {
		name                      string
		off, dfrd, drained, paced bool
	}{{"sync", false, false, false, false}, {"deferred", false, true, false, false}, {"drained", false, true, true, false},
		{"paced", false, true, true, true}, {"off", true, false, false, false}} {
		b.Run(tc.name, func(b *testing.B) {
			opts := fuzzyOpts
			opts.Value.Off, opts.Value.Deferred = tc.off, tc.dfrd
			s := MustOpenSQLite(b, opts)
			evs := valueBenchEvents(b.N)
			batch := benchBatch()
			ctx := context.Background()
			var drained time.Time  // when the last recompute ended
			var took time.Duration // how long it took
			drain := func() {
				t := time.Now()
				drainAll(b, s, 2000)
				drained, took = time.Now(), time.Since(t)
			}
			settle := func() {
				t := time.Now()
				if _, err := s.DrainSettled(ctx, 2000, time.Second, 30*time.Second, nil); err != nil {
					b.Fatal(err)
				}
				drained, took = time.Now(), time.Since(t)
			}
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			drained = start
			for i, next := 0, drainEvery; i < len(evs); i += batch {
				if _, err := s.Apply(ctx, evs[i:min(i+batch, len(evs))]); err != nil {
					b.Fatal(err)
				}
				due := i+batch >= next
				if tc.paced {
					due = time.Since(drained) >= max(time.Second, 4*took)
				}
				last := i+batch >= len(evs)
				switch {
				case tc.paced && due && !last:
					settle()
				case tc.drained && (due || last):
					drain()
					next += drainEvery
				}
			}
			b.ReportMetric(float64(len(evs))/time.Since(start).Seconds(), "records/s")
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(len(evs)), "cpu-µs/record")
			if tc.dfrd && !tc.drained {
				// What the deferred recompute costs after the run, per
				// record applied (every customer once).
				cpu := cpuTime()
				drain()
				b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(len(evs)), "drain-cpu-µs/record")
			}
		})
	}
}

// BenchmarkValueReads is the latency of the value reads the API serves
// (revenue by month and by channel, segments, the at-risk list by
// revenue, one customer's figures) on a store of CRMHUB_BENCH_VALUE_CUSTOMERS
// customers with 6 orders each (default 5000; CRMHUB_BENCH_VALUE_ORDERS
// sets the orders), reporting p50 and p99:
//
//	CRMHUB_BENCH_VALUE_CUSTOMERS=20000 go test -run '^$' -bench 'ValueReads' -benchtime 200x -timeout 1h ./hub/store
//
// CRMHUB_BENCH_VALUE_COPIES=k then copies those customers k times by SQL
// (cloneCustomers), for a store of a million customers:
//
//	CRMHUB_BENCH_VALUE_CUSTOMERS=10000 CRMHUB_BENCH_VALUE_COPIES=99 go test -run '^$' -bench 'ValueReads' -benchtime 200x -timeout 2h ./hub/store
//
// and with CRMHUB_BENCH_VALUE_ORDERS=10, of ten million orders;
// CRMHUB_BENCH_VALUE_STORE=postgres reads a PostgreSQL store.
func BenchmarkValueReads(b *testing.B) {
	customers := 5000
	if n, err := strconv.Atoi(os.Getenv("CRMHUB_BENCH_VALUE_CUSTOMERS")); err == nil && n > 0 {
		customers = n
	}
	open := MustOpenSQLite
	if os.Getenv("CRMHUB_BENCH_VALUE_STORE") == "postgres" {
		open = MustOpenPostgres
	}
	s := open(b, Options{Value: ValueOptions{Deferred: true}})
	ctx := context.Background()
	evs := valueBenchStream(customers, scaleOrders())
	for i := 0; i < len(evs); i += 2000 {
		if _, err := s.Apply(ctx, evs[i:min(i+2000, len(evs))]); err != nil {
			b.Fatal(err)
		}
	}
	drainAll(b, s, 2000)
	if _, err := s.RefreshValue(ctx, time.Now(), 0); err != nil {
		b.Fatal(err)
	}
	if k := scaleCopies(); k > 0 {
		t0 := time.Now()
		cloneCustomers(b, s, k)
		b.Logf("copied the %d customers %d times by SQL in %s", customers, k, time.Since(t0).Round(time.Second))
	}
	var golden, orders int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT (SELECT count(*) FROM customer_value), (SELECT count(*) FROM records WHERE entity = ?)`), hub.EntityOrder).Scan(&golden, &orders); err != nil {
		b.Fatal(err)
	}
	b.Logf("the store holds %d customers with figures and %d orders", golden, orders)
	some, err := s.ValueCustomers(ctx, value.ListFilter{Desc: true, Limit: 1})
	if err != nil || len(some) == 0 {
		b.Fatal("no customer with figures", err)
	}
	// The cursor of the second page of all customers by revenue.
	var (
		rev   int64
		gid   string
		after string
	)
	if err := s.db.QueryRowContext(ctx, `SELECT revenue_12m, golden_id FROM customer_value ORDER BY revenue_12m DESC, golden_id DESC LIMIT 1 OFFSET 49`).Scan(&rev, &gid); err == nil {
		after = fmt.Sprintf("%d:%s", rev, gid)
	}
	reads := []struct {
		name string
		fn   func() error
	}{
		{"all_by_revenue", func() error {
			_, err := s.ValueCustomers(ctx, value.ListFilter{Desc: true, Limit: 50})
			return err
		}},
		{"all_by_revenue_page2", func() error {
			_, err := s.ValueCustomers(ctx, value.ListFilter{Desc: true, Limit: 50, After: after})
			return err
		}},
		{"revenue_by_month", func() error { _, err := s.RevenueBy(ctx, "month"); return err }},
		{"revenue_by_channel", func() error { _, err := s.RevenueBy(ctx, "channel"); return err }},
		{"segments", func() error { _, err := s.Segments(ctx); return err }},
		{"at_risk_by_revenue", func() error {
			_, err := s.ValueCustomers(ctx, value.ListFilter{Stage: "at_risk", Desc: true, Limit: 50})
			return err
		}},
		{"customer_value", func() error { _, err := s.CustomerValue(ctx, some[0].ID); return err }},
	}
	for _, rd := range reads {
		b.Run(rd.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for range b.N {
				t := time.Now()
				if err := rd.fn(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
