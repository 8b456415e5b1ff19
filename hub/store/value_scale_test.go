package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// scaleCopies is CRMHUB_BENCH_VALUE_COPIES: how many copies of the applied
// customers BenchmarkValueReads adds by SQL before it reads (0: none).
func scaleCopies() int {
	n, _ := strconv.Atoi(os.Getenv("CRMHUB_BENCH_VALUE_COPIES"))
	return max(n, 0)
}

// scaleOrders is CRMHUB_BENCH_VALUE_ORDERS: the orders of each customer
// BenchmarkValueReads applies (default 6).
func scaleOrders() int {
	if n, err := strconv.Atoi(os.Getenv("CRMHUB_BENCH_VALUE_ORDERS")); err == nil && n > 0 {
		return n
	}
	return 6
}

// cloneCustomers adds k copies of every golden customer, its records
// (customer, orders, invoices, payments, cases) and its figures to a
// store, and scales the running totals to match, so the value reads
// can be timed on a store of a million customers without applying 18
// million records (hours on this machine). The copies are the applied
// customers' rows under new keys (`<key>~<n>`), their revenue spread by
// copy, so indexes, pages and the totals have the sizes of a store that
// large; the match keys, search values and feed are not copied (the value
// reads do not touch them).
func cloneCustomers(tb testing.TB, s *Store, k int) {
	tb.Helper()
	ctx := context.Background()
	rewrite := map[string][]string{
		"goldens":        {"id", "merged_into"},
		"records":        {"rkey", "source_id", "event_id", "ref_id", "golden_id"},
		"customer_value": {"golden_id"},
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	if s.pg {
		if _, err := tx.ExecContext(ctx, `SET LOCAL maintenance_work_mem = '1GB'`); err != nil {
			tb.Fatal(err)
		}
	}
	// The secondary indexes are built again after the copy: one sort each
	// instead of millions of inserts at random places (the copy of 18M
	// records took 1 h 28 min with them).
	indexes, err := secondaryIndexes(ctx, tx, s.pg, "goldens", "records", "customer_value")
	if err != nil {
		tb.Fatal(err)
	}
	for name := range indexes {
		if _, err := tx.ExecContext(ctx, `DROP INDEX `+name); err != nil {
			tb.Fatalf("drop index %s: %v", name, err)
		}
	}
	for _, table := range []string{"goldens", "records", "customer_value"} {
		cols, err := tableColumns(ctx, tx, s.pg, table)
		if err != nil {
			tb.Fatal(err)
		}
		sel := make([]string, len(cols))
		for i, c := range cols {
			switch {
			case slices.Contains(rewrite[table], c):
				sel[i] = fmt.Sprintf("t.%s || '~' || CAST(n.x AS TEXT)", c)
			case table == "customer_value" && c == "revenue_12m":
				sel[i] = "t.revenue_12m * (1 + n.x % 7) / 4" // spread, so the sort has no ties of copies
			default:
				sel[i] = "t." + c
			}
		}
		q := fmt.Sprintf(`WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < %d)
INSERT INTO %s (%s) SELECT %s FROM (SELECT * FROM %s) t, n`, k, table, strings.Join(cols, ", "), strings.Join(sel, ", "), table)
		if _, err := tx.ExecContext(ctx, q); err != nil {
			tb.Fatalf("copy %s: %v", table, err)
		}
	}
	for name, create := range indexes {
		if _, err := tx.ExecContext(ctx, create); err != nil {
			tb.Fatalf("build index %s again: %v", name, err)
		}
	}
	// The totals grow with the copies: k+1 times the customers; revenue
	// as the copies' spread adds up only approximately, which the reads'
	// cost does not depend on.
	type total struct {
		dim, key, cur, rev string
		n                  int64
	}
	var all []total
	rows, err := tx.QueryContext(ctx, `SELECT dim, dkey, currency, revenue, customers FROM value_totals`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var t total
		if err := rows.Scan(&t.dim, &t.key, &t.cur, &t.rev, &t.n); err != nil {
			tb.Fatal(err)
		}
		all = append(all, t)
	}
	if err := rows.Close(); err != nil {
		tb.Fatal(err)
	}
	for _, t := range all {
		rev, err := decimal.NewFromString(t.rev)
		if err != nil {
			tb.Fatalf("value_totals %s/%s: %v", t.dim, t.key, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE value_totals SET revenue = ?, customers = ? WHERE dim = ? AND dkey = ? AND currency = ?`),
			rev.Mul(decimal.NewFromInt(int64(k+1))).String(), t.n*int64(k+1), t.dim, t.key, t.cur); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `ANALYZE`); err != nil {
		tb.Fatal(err)
	}
}

// secondaryIndexes maps the tables' own indexes (not those of their
// primary keys or other constraints) to the statements that create them.
func secondaryIndexes(ctx context.Context, tx *sql.Tx, pg bool, tables ...string) (map[string]string, error) {
	out := map[string]string{}
	q := `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`
	if pg {
		q = `SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace AND NOT x.indisunique`
	}
	for _, table := range tables {
		rows, err := tx.QueryContext(ctx, q, table)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var name, create string
			if err := rows.Scan(&name, &create); err != nil {
				rows.Close()
				return nil, err
			}
			out[name] = create
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// tableColumns lists a table's columns in order, generated ones left out.
func tableColumns(ctx context.Context, tx *sql.Tx, pg bool, table string) ([]string, error) {
	q := `SELECT name FROM pragma_table_info(?)`
	if pg {
		q = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1
AND is_generated = 'NEVER' ORDER BY ordinal_position`
	}
	rows, err := tx.QueryContext(ctx, q, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("table %s has no columns", table)
	}
	return cols, rows.Err()
}

// TestCloneCustomers checks the copy the scale benchmark reads: k copies
// of each customer with figures, records and golden row, totals scaled.
func TestCloneCustomers(t *testing.T) { testCloneCustomers(t, MustOpenSQLite) }

func TestCloneCustomersPostgresIntegration(t *testing.T) { testCloneCustomers(t, MustOpenPostgres) }

func testCloneCustomers(t *testing.T, open opener) {
	s := open(t, Options{Value: ValueOptions{Deferred: true}})
	ctx := context.Background()
	if _, err := s.Apply(ctx, valueBenchEvents(10*18)); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := s.DrainValue(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if _, err := s.RefreshValue(ctx, time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	count := func(q string) int {
		var n int
		if err := s.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cv, recs, gs := count(`SELECT count(*) FROM customer_value`), count(`SELECT count(*) FROM records`), count(`SELECT count(*) FROM goldens`)
	segs, err := s.Segments(ctx)
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments before: %v %v", segs, err)
	}
	countIndexes := `SELECT count(*) FROM sqlite_master WHERE type = 'index'`
	if s.pg {
		countIndexes = `SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema()`
	}
	indexes := count(countIndexes)
	cloneCustomers(t, s, 3)
	if got := count(countIndexes); got != indexes {
		t.Errorf("%d indexes after the copy, want the %d before", got, indexes)
	}
	if !s.pg {
		var integrity string
		if err := s.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
			t.Errorf("integrity check after the copy (indexes built again): %q %v", integrity, err)
		}
	}
	if got := count(`SELECT count(*) FROM customer_value`); got != 4*cv {
		t.Errorf("customer_value rows %d, want %d", got, 4*cv)
	}
	if got := count(`SELECT count(*) FROM records`); got != 4*recs {
		t.Errorf("records %d, want %d", got, 4*recs)
	}
	if got := count(`SELECT count(*) FROM goldens`); got != 4*gs {
		t.Errorf("goldens %d, want %d", got, 4*gs)
	}
	after, err := s.Segments(ctx)
	if err != nil || len(after) != len(segs) {
		t.Fatalf("segments after: %v %v", after, err)
	}
	for i := range segs {
		if after[i].Customers != 4*segs[i].Customers {
			t.Errorf("segment %v: %d customers after the copy, want %d", segs[i], after[i].Customers, 4*segs[i].Customers)
		}
	}
	// A copied customer's figures read like the original's.
	var id string
	if err := s.db.QueryRowContext(ctx, `SELECT golden_id FROM customer_value WHERE golden_id LIKE '%~2' LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if f, err := s.CustomerValue(ctx, id); err != nil || f == nil {
		t.Fatalf("copied customer %s: %v %v", id, f, err)
	}
}
