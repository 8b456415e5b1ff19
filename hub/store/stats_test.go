package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/value"
)

// skewedStore applies, in batches of 500, a store whose tables are as
// uneven as a CRM's get: 1,200 people with three customer records each
// but an order for one person in 40, one golden customer of 300 records
// (a shared e-mail), one customer with 400 orders, and 200 merged golden
// customers (a later record with one person's e-mail and another's
// phone). statsEvery is set before the first batch, so the statistics
// checks run as the store grows.
func skewedStore(t *testing.T, statsEvery int) *Store {
	t.Helper()
	s := MustOpenSQLite(t, Options{})
	s.statsEvery = statsEvery
	var evs []hub.Envelope
	for i := 0; i < 1200; i++ {
		evs = benchPerson(evs, i)
		if i%40 != 0 { // benchPerson's last record is the person's order
			evs = evs[:len(evs)-1]
		}
	}
	for i := 0; i < 300; i++ {
		evs = append(evs, cust("web", fmt.Sprintf("w%d", i), 1, hub.Customer{FamilyName: "Shared", Emails: []string{"office@example.de"}}))
	}
	for i := 0; i < 400; i++ {
		evs = append(evs, ev(hub.EntityOrder, "erp", "orders", fmt.Sprintf("M%d", i), 1, hub.Order{OrderNumber: fmt.Sprintf("M%d", i),
			CustomerRef: hub.Ref{System: "erp", ID: "K1"}, Total: &hub.Money{Amount: "10.00", Currency: "EUR"}}))
	}
	mustApplyBatches(t, s, 500, evs)
	var bridges []hub.Envelope
	for i := 2; i < 402; i += 2 {
		bridges = append(bridges, cust("web", fmt.Sprintf("b%d", i), 1, hub.Customer{FamilyName: "Bridge",
			Emails: []string{fmt.Sprintf("p%d@example.de", i)}, Phones: []string{fmt.Sprintf("+4930%07d", i+1)}}))
	}
	st := mustApply(t, s, bridges...)
	if st.GoldenMerged < 100 {
		t.Fatalf("skewed store: %d golden customers merged, want about 200", st.GoldenMerged)
	}
	return s
}

// queryPlan is SQLite's plan of query on db, its steps joined by "; ".
func queryPlan(t *testing.T, db queryer, query string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}

// inArgs is a padded IN list of n keys, as the store's chunks are.
func inArgs(n int) (string, []any) {
	args := make([]any, n)
	for i := range args {
		args[i] = fmt.Sprintf("k%d", i)
	}
	return placeholders(n), args
}

// statsPlanCase is a query of the store whose plan matters as it grows:
// its plan must include want and none of avoid.
type statsPlanCase struct {
	name  string
	query string
	args  []any
	want  string
	avoid []string
	// needsStats: the plan is right only with statistics (it is logged,
	// not checked, before them).
	needsStats bool
}

func statsPlanCases(t *testing.T) []statsPlanCase {
	in, args := inArgs(chunk)
	in8, args8 := inArgs(8)
	page := func(f value.ListFilter) (string, []any) {
		q, a, err := valueListQuery(f)
		if err != nil {
			t.Fatal(err)
		}
		return q, a
	}
	first, firstArgs := page(value.ListFilter{Desc: true, Limit: 50})
	next, nextArgs := page(value.ListFilter{Desc: true, Limit: 50, After: "1000:g"})
	seg, segArgs := page(value.ListFilter{Segment: "champions", Limit: 50, After: "1000:g"})
	sortAll := "USE TEMP B-TREE"
	blocks, blocksArgs := sqliteBlocksQuery([]string{"email:a@example.de", "name:shared"}, func(string) int { return 101 })
	return []statsPlanCase{
		// The value figures' reads of a chunk of golden customers: on
		// records_lookup (entity = 'customer') they stepped through every
		// customer record of the store per chunk. The statistics choose
		// records_golden for a short list; for a full chunk of 512 the
		// bounded ANALYZE's estimate of entity = 'customer' (about
		// sqliteAnalysisLimit rows, however many the store has) can
		// come out below 512 goldens' records, so byGolden names the
		// index.
		{name: "inputs of goldens, unhinted", query: fmt.Sprintf(strings.Replace(inputsOfGoldens, byGoldenHint, "", 1), in8), args: args8,
			want: "records_golden", needsStats: true},
		{name: "inputs of goldens", query: fmt.Sprintf(s0.byGolden(inputsOfGoldens), in), args: args, want: "records_golden"},
		{name: "sources of goldens", query: fmt.Sprintf(`SELECT golden_id, rkey, event_id FROM records WHERE golden_id IN (%s) AND deleted = 0 ORDER BY golden_id, rkey`, in), args: args,
			want: "records_golden"},
		{name: "customers by source id", query: fmt.Sprintf(`SELECT golden_id FROM records WHERE entity = 'customer' AND system = ? AND deleted = 0 AND golden_id IS NOT NULL AND source_id IN (%s)`, in),
			args: append([]any{"erp"}, args...), want: "records_lookup (entity=? AND system=? AND source_id=?)"},
		{name: "linked facts", query: fmt.Sprintf(`SELECT ref_id, value_fact, CASE WHEN value_fact IS NULL THEN rkey END FROM records
WHERE ref_system = ? AND deleted = 0 AND ref_id IN (%s) AND entity <> 'customer'`, in), args: append([]any{"erp"}, args...), want: "COVERING INDEX records_linked"},
		{name: "linked page", query: `SELECT rkey, link_at, data ` + linkedWhere + ` ORDER BY link_at DESC, rkey LIMIT 50`, args: []any{"erp", "K1", "order"},
			want: "records_linked (ref_system=? AND ref_id=? AND entity=? AND deleted=?)", avoid: []string{sortAll}},
		// Merged golden customers of a batch's: with a NULL entry for
		// every active golden customer in the index (before 0027) the
		// statistics made the planner scan every golden customer.
		{name: "merged goldens with figures", query: fmt.Sprintf(`SELECT g.id FROM goldens g JOIN customer_value v ON v.golden_id = g.id WHERE g.merged_into IN (%s)`, in), args: args,
			want: "goldens_merged_into", avoid: []string{"SCAN g"}},
		{name: "merged goldens", query: fmt.Sprintf(`SELECT merged_into, id FROM goldens WHERE merged_into IN (%s) ORDER BY merged_into, id`, in), args: args,
			want: "goldens_merged_into", avoid: []string{"SCAN goldens"}},
		{name: "golden by source id", query: `SELECT g.id FROM goldens g WHERE g.status = 'active' AND g.id IN (SELECT golden_id FROM records WHERE entity = 'customer' AND deleted = 0 AND system = ? AND source_id = ?) ORDER BY g.id LIMIT 50`,
			args: []any{"erp", "K1"}, want: "records_lookup (entity=? AND system=? AND source_id=?)"},
		// Value list pages: an index range in page order, never every
		// customer sorted (valueListQuery).
		{name: "value list, first page", query: first, args: firstArgs, want: "customer_value_revenue", avoid: []string{sortAll, "SCAN g"}},
		{name: "value list, next page", query: next, args: nextArgs, want: "customer_value_revenue ((revenue_12m,golden_id)<(?,?))", avoid: []string{sortAll, "SCAN g"}},
		// Blocks of match keys: each sub-select a search of one key,
		// with its placeholders cast (stmtCache).
		{name: "block members", query: blocks, args: blocksArgs, want: "SEARCH match_keys USING PRIMARY KEY (mkey=?)", avoid: []string{"SCAN match_keys"}},
		{name: "names in a range", query: namesFrom, args: []any{"mue", "mue\U0010FFFF", "", "", 51},
			want: "SEARCH a USING PRIMARY KEY (attr=? AND value>? AND value<?)", avoid: []string{sortAll}},
		{name: "changes after", query: feedPage, args: []any{100, 200}, want: "SEARCH golden_changes USING INTEGER PRIMARY KEY (rowid>?)", avoid: []string{sortAll}},
		{name: "value list by segment", query: seg, args: segArgs, want: "customer_value_segment (segment=? AND (revenue_12m,golden_id)>(?,?))", avoid: []string{sortAll, "SCAN g"}},
	}
}

// s0 is a zero SQLite store, for byGolden.
var s0 = &Store{}

// On a skewed store, the queries whose plan depends on the data use the
// index they should once the statistics checks ran as it grew, on the
// writer and on a reader connection opened before the statistics
// changed; those that must not depend on statistics use it before too.
func TestSQLiteStatsPlans(t *testing.T) {
	s := skewedStore(t, -1) // no statistics yet
	ctx := context.Background()
	// A reader connection from before the statistics.
	reader, err := s.rdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	check := func(stats bool) {
		// EXPLAIN does not look at the schema's version, a query does:
		// the reader's next one loads the new statistics.
		var n int
		if err := reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM write_epoch`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		for _, tc := range statsPlanCases(t) {
			for _, conn := range []struct {
				name string
				db   queryer
			}{{"writer", s.db}, {"reader", reader}} {
				plan := queryPlan(t, conn.db, tc.query, tc.args...)
				if !stats && tc.needsStats {
					t.Logf("%s, %s, without statistics: %s", tc.name, conn.name, plan)
					continue
				}
				bad := !strings.Contains(plan, tc.want)
				for _, a := range tc.avoid {
					bad = bad || strings.Contains(plan, a)
				}
				if bad {
					t.Errorf("%s, %s, statistics %v: plan %q, want %q without %q", tc.name, conn.name, stats, plan, tc.want, tc.avoid)
				}
			}
		}
	}
	check(false)
	n, err := s.refreshStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("refreshStats analyzed no table of a store never analyzed")
	}
	check(true)
}

// The checks run as records are applied: the statistics exist for the
// tables the store fills, are bounded by analysis_limit, and are not
// rewritten while the store's size stays within SQLite's margin (about tenfold).
func TestSQLiteStatsFollowApply(t *testing.T) {
	s := skewedStore(t, 1000)
	ctx := context.Background()
	stats := map[string]string{}
	rows, err := s.db.QueryContext(ctx, `SELECT tbl || '.' || COALESCE(idx, ''), stat FROM sqlite_stat1`)
	if err != nil {
		t.Fatalf("sqlite_stat1 after applying: %v", err)
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		stats[k] = v
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for _, idx := range []string{"records.records_golden", "records.records_lookup", "records.records_linked", "goldens.sqlite_autoindex_goldens_1", "match_keys.match_keys", "customer_value.customer_value_revenue"} {
		if stats[idx] == "" {
			t.Errorf("no statistics for %s after applying (have %v)", idx, stats)
		}
	}
	var limit int
	if err := s.db.QueryRowContext(ctx, `PRAGMA analysis_limit`).Scan(&limit); err != nil || limit != sqliteAnalysisLimit {
		t.Errorf("writer analysis_limit %d (%v), want %d", limit, err, sqliteAnalysisLimit)
	}
	// Tables that got their first rows since the last check are
	// analyzed once; then nothing moved, and nothing is rewritten.
	if _, err := s.refreshStats(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.refreshStats(ctx); err != nil || n != 0 {
		t.Errorf("refreshStats right after the last check analyzed %d tables (%v), want 0", n, err)
	}
}

// A store opened on a database that grew without statistics (an older
// version's, or one filled by another process) gets them at Open.
func TestSQLiteStatsAtOpen(t *testing.T) {
	s := skewedStore(t, -1)
	path := storePath(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, DriverSQLite, path, Options{})
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'records'`).Scan(&n); err != nil || n == 0 {
		t.Errorf("records statistics after Open: %d rows (%v), want some", n, err)
	}
}

// The figures' table fills in the settle pass, after the batches whose
// applies check the statistics: a first sync's settle pass checks them
// itself, or the planner keeps the size it saw while the table was small
// until the next sync.
func TestSettleRefreshesStats(t *testing.T) {
	ctx := context.Background()
	s := openValue(t, MustOpenSQLite, Options{Value: ValueOptions{Deferred: true}})
	s.statsEvery = 1000
	people := func(from, to int) []hub.Envelope {
		var evs []hub.Envelope
		for i := from; i < to; i++ {
			id := fmt.Sprintf("P%d", i)
			evs = append(evs, cust("crm", id, 1, hub.Customer{GivenName: "Given", FamilyName: fmt.Sprintf("Family%d", i),
				Emails: []string{fmt.Sprintf("p%d@example.com", i)}}),
				ev(hub.EntityOrder, "erp", "orders", "O"+id, 2, hub.Order{OrderNumber: "O" + id,
					CustomerRef: hub.Ref{System: "crm", ID: id}, Total: &hub.Money{Amount: "10.00", Currency: "EUR"}}))
		}
		return evs
	}
	drain := func() {
		t.Helper()
		if _, err := s.DrainSettled(ctx, 500, 0, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	applyChunked(t, s, people(0, 50))
	drain()
	if _, err := s.refreshStats(ctx); err != nil {
		t.Fatal(err)
	}
	if n := valueStatRows(t, s); n != 50 {
		t.Fatalf("customer_value analyzed at %d rows, want 50", n)
	}
	// Five applies' checks see customer_value at 50 rows.
	applyChunked(t, s, people(50, 3000))
	drain()
	if n := valueStatRows(t, s); n < 500 {
		t.Errorf("after the settle pass filled customer_value with 3,000 rows its statistics say %d", n)
	}
}

// valueStatRows is the row count sqlite_stat1 holds for customer_value's
// primary key.
func valueStatRows(t *testing.T, s *Store) int {
	t.Helper()
	var stat string
	if err := s.db.QueryRowContext(context.Background(),
		`SELECT stat FROM sqlite_stat1 WHERE tbl = 'customer_value' AND idx = 'sqlite_autoindex_customer_value_1'`).Scan(&stat); err != nil {
		t.Fatalf("customer_value statistics: %v", err)
	}
	var n int
	if _, err := fmt.Sscan(stat, &n); err != nil {
		t.Fatalf("customer_value statistics %q: %v", stat, err)
	}
	return n
}

// On PostgreSQL the store analyzes a table once it changed by more than
// pgAnalyzeRows plus the rows it held at its last ANALYZE: a server with
// autovacuum off (this project's CI machine) would otherwise plan every
// query of the store's life from no statistics.
func TestPostgresStatsRefreshIntegration(t *testing.T) {
	ctx := context.Background()
	s := MustOpenPostgres(t, Options{})
	var evs []hub.Envelope
	for i := 0; i < 1500; i++ {
		evs = benchPerson(evs, i)
	}
	mustApplyBatches(t, s, 500, evs)
	analyzed := func() (bool, float64) {
		t.Helper()
		var manual bool
		var tuples float64
		if err := s.db.QueryRowContext(ctx, `SELECT st.last_analyze IS NOT NULL, c.reltuples FROM pg_stat_user_tables st
JOIN pg_class c ON c.oid = st.relid WHERE st.schemaname = current_schema() AND st.relname = 'records'`).Scan(&manual, &tuples); err != nil {
			t.Fatalf("records' statistics: %v", err)
		}
		return manual, tuples
	}
	// The server counts a transaction's changes when its backend reports
	// them, up to a second after the commit: the check is repeated
	// until it sees them, as the next Apply's would.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := s.refreshStats(ctx); err != nil {
			t.Fatal(err)
		}
		if ok, _ := analyzed(); ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	ok, tuples := analyzed()
	if !ok {
		t.Fatal("records was never analyzed by the store")
	}
	if tuples < 3000 {
		t.Errorf("records analyzed at %.0f rows, want the %d applied", tuples, len(evs))
	}
	// Other tables' changes may be reported only now (the server's
	// second), so the next check may analyze them: not records again.
	before := analyzeCount(t, s, "records")
	if _, err := s.refreshStats(ctx); err != nil {
		t.Fatal(err)
	}
	if n := analyzeCount(t, s, "records"); n != before {
		t.Errorf("a check right after the refresh analyzed records again (%d analyses, was %d)", n, before)
	}
}

// A table another transaction holds (as a VACUUM or another instance's
// ANALYZE would) is skipped quietly, the others are analyzed, and it is
// analyzed by the first check after the lock goes.
func TestPostgresStatsSkipBusyTable(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	s := MustOpenPostgres(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	var evs []hub.Envelope
	for i := 0; i < 1500; i++ {
		evs = benchPerson(evs, i)
	}
	mustApplyBatches(t, s, 500, evs)
	lastAnalyze := func(table string) bool {
		t.Helper()
		var done bool
		if err := s.db.QueryRowContext(ctx, `SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables
WHERE schemaname = current_schema() AND relname = $1`, table).Scan(&done); err != nil {
			t.Fatalf("%s's statistics: %v", table, err)
		}
		return done
	}
	// A backend reports its changes only once out of a transaction: the
	// hold below may take the pooled connection that applied, so the
	// changes must be reported (records and another table over the
	// threshold) before it begins, or none would be while it lasts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		due, err := s.strings(ctx, s.db, pgTablesDue, pgAnalyzeRows)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(due, "records") && len(due) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server never reported the applied changes (tables due: %v)", due)
		}
		time.Sleep(200 * time.Millisecond)
	}
	hold, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback()
	// ANALYZE's own lock mode, which conflicts with itself.
	if _, err := hold.ExecContext(ctx, `LOCK TABLE records IN SHARE UPDATE EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	others := 0
	for deadline := time.Now().Add(30 * time.Second); others == 0 && time.Now().Before(deadline); {
		n, err := s.refreshStats(ctx)
		if err != nil {
			t.Fatalf("a check with records held failed: %v", err)
		}
		others += n
		time.Sleep(200 * time.Millisecond)
	}
	if others == 0 {
		t.Fatalf("no table was analyzed while records was held; logs:\n%s", logs.String())
	}
	if lastAnalyze("records") {
		t.Fatal("records was analyzed though another transaction held it")
	}
	if !strings.Contains(logs.String(), "table busy, skipped") || !strings.Contains(logs.String(), "table=records") {
		t.Errorf("no debug line for the held table; logs:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a held table was logged as a failure:\n%s", logs.String())
	}
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.refreshStats(ctx); err != nil {
		t.Fatal(err)
	}
	if !lastAnalyze("records") {
		t.Error("records not analyzed by the check after its lock went")
	}
}

// analyzeCount is how often table was analyzed by hand (not autovacuum).
func analyzeCount(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(context.Background(), `SELECT analyze_count FROM pg_stat_user_tables
WHERE schemaname = current_schema() AND relname = $1`, table).Scan(&n); err != nil {
		t.Fatalf("%s's statistics: %v", table, err)
	}
	return n
}
