package sqlconn

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// benchLogical is a logical-mode source over an empty customers table,
// past its (empty) snapshot: what is read next comes from the stream.
func benchLogical(b *testing.B) (backend, *Source) {
	be, slot := logicalBackendTB(b, `CREATE TABLE customers (id bigint PRIMARY KEY, name text, email text, amount numeric(20,6))`)
	s := &Source{}
	ctx := context.Background()
	cfg := sdk.Config{"driver": "postgres", "dsn": be.dsn, "slot": slot, "batch_size": 5000, "timezone": "UTC",
		"entities": []any{map[string]any{"name": "customers", "table": "customers", "key": "id", "change_detection": "logical"}}}
	if err := s.Configure(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	if err := s.Open(ctx, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Teardown(context.Background()) })
	if recs, err := s.Read(ctx, 5000); err != nil || len(recs) != 0 {
		b.Fatalf("snapshot of an empty table: %d records, %v", len(recs), err)
	}
	return be, s
}

// BenchmarkLogicalThroughput: b.N rows inserted (transactions of 100
// rows) are captured from the stream: decoded, read back, handed out and
// acknowledged. Reports rows/s of the capture alone.
func BenchmarkLogicalThroughput(b *testing.B) {
	be, s := benchLogical(b)
	for i := 0; i < b.N; i += 100 {
		if _, err := be.db.Exec(`INSERT INTO customers SELECT g, 'Customer ' || g, 'c' || g || '@example.com', g * 1.25 FROM generate_series($1::int, $2::int) g`, i+1, min(i+100, b.N)); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for got := 0; got < b.N; {
		recs, err := s.Read(ctx, 5000)
		if err != nil {
			b.Fatal(err)
		}
		if len(recs) > 0 {
			got += len(recs)
			if err := s.Ack(ctx, recs[len(recs)-1].Position); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkLogicalDelay: b.N single-row changes at 1,000 changes/s (an
// insert or an update each, committed in transactions of 10 every 10 ms);
// reports the delay from each transaction's commit (its commit time in the
// stream) to the record's hand-out by Read, p50 and p99. Run with
// -benchtime=5000x.
func BenchmarkLogicalDelay(b *testing.B) {
	be, s := benchLogical(b)
	ctx := context.Background()
	done := make(chan error, 1)
	b.ResetTimer()
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < b.N; i += 10 {
			<-tick.C
			// Half inserts, half updates of rows inserted before.
			q := `INSERT INTO customers SELECT g, 'Customer ' || g, NULL, g FROM generate_series($1::int, $2::int) g`
			if i%20 == 10 {
				q = `UPDATE customers SET amount = amount + 1 WHERE id BETWEEN $1::int - 10 AND $2::int - 10`
			}
			if _, err := be.db.Exec(q, i+1, min(i+10, b.N)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var delays []time.Duration
	writing := true
	for writing || len(delays) < b.N/2 {
		if writing {
			select {
			case err := <-done:
				if err != nil {
					b.Fatal(err)
				}
				writing = false
			default:
			}
		}
		recs, err := s.Read(ctx, 5000)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		for _, r := range recs {
			delays = append(delays, now.Sub(r.UpdatedAt))
		}
		if len(recs) > 0 {
			if err := s.Ack(ctx, recs[len(recs)-1].Position); err != nil {
				b.Fatal(err)
			}
		} else if !writing {
			break
		}
	}
	b.StopTimer()
	if len(delays) == 0 {
		b.Fatal("no changes read")
	}
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(delays)), "records")
}
