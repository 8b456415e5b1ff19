package sqlconn

import (
	"context"
	"os"
	"strconv"
	"testing"
)

func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("CRMHUB_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// BenchmarkPostgresSnapshot reads a full snapshot (cursor + key keyset,
// pages of 5000) of a customers table from the local PostgreSQL.
func BenchmarkPostgresSnapshot(b *testing.B) {
	be := backend{driver: "postgres", ddl: `CREATE TABLE customers (id bigint PRIMARY KEY, name text, email text, amount numeric(20,6), updated_at timestamp(6) NOT NULL, deleted boolean NOT NULL DEFAULT false, data bytea)`}
	be.dsn = benchPostgres(b)
	n := benchRows()
	db := openBench(b, be)
	if _, err := db.Exec(`INSERT INTO customers (id, name, email, amount, updated_at)
		SELECT i, 'Customer ' || i, 'c' || i || '@example.com', i * 1.25, timestamp '2024-01-01' + (i / 10) * interval '1 second' FROM generate_series(1, $1) i`, n); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`CREATE INDEX ON customers (updated_at, id)`); err != nil {
		b.Fatal(err)
	}
	db.Exec(`ANALYZE customers`)
	b.ResetTimer()
	total := 0
	for b.Loop() {
		s := Connector.NewSource()
		ctx := context.Background()
		if err := s.Configure(ctx, map[string]any{"driver": "postgres", "dsn": be.dsn, "batch_size": 5000,
			"entities": []any{map[string]any{"name": "customers", "table": "customers", "key": "id", "cursor": "updated_at"}}}); err != nil {
			b.Fatal(err)
		}
		if err := s.Open(ctx, nil); err != nil {
			b.Fatal(err)
		}
		got := 0
		for {
			recs, err := s.Read(ctx, 5000)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			got += len(recs)
		}
		s.Teardown(ctx)
		if got != n {
			b.Fatalf("read %d rows, want %d", got, n)
		}
		total += got
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
}
