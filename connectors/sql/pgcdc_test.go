package sqlconn

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/crmhub/crmhub/hub/testenv"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// logicalBackend is a fresh schema on a PostgreSQL with wal_level =
// logical, and a slot name of the test's own, dropped (with its
// publication) when the test ends.
func logicalBackend(t *testing.T, ddl string) (backend, string) {
	t.Helper()
	return logicalBackendTB(t, ddl)
}

// logicalBackendTB is logicalBackend for tests and benchmarks.
func logicalBackendTB(t testing.TB, ddl string) (backend, string) {
	t.Helper()
	b := backend{driver: "postgres", dsn: testenv.Postgres(t)}
	db, err := sql.Open("pgx", b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	testenv.RequireLogical(t, db)
	buf := make([]byte, 4)
	_, _ = rand.Read(buf)
	slot := "crmhub_test_" + hex.EncodeToString(buf)
	t.Cleanup(func() {
		// The walsender may outlive the connection's close by a moment.
		for range 50 {
			var active bool
			err := db.QueryRow(`SELECT active FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&active)
			if err == sql.ErrNoRows {
				break
			}
			if err == nil && !active {
				if _, err := db.Exec(`SELECT pg_drop_replication_slot($1)`, slot); err == nil {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		_, _ = db.Exec(`DROP PUBLICATION IF EXISTS ` + slot)
	})
	b.ddl, b.db = ddl, db
	if _, err := db.Exec(ddl); err != nil {
		t.Fatal(err)
	}
	return b, slot
}

func logicalConfig(b backend, slot string, entities ...any) sdk.Config {
	return sdk.Config{"driver": "postgres", "dsn": b.dsn, "slot": slot, "batch_size": 500, "timezone": "UTC", "entities": entities}
}

func openLogicalSource(t *testing.T, cfg sdk.Config, pos sdk.Position) *Source {
	t.Helper()
	s := &Source{}
	ctx := context.Background()
	if err := s.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx, pos); err != nil {
		s.Teardown(ctx)
		t.Fatal(err)
	}
	return s
}

// readUntil reads (acknowledging each batch) until done says so, or fails
// after a generous bound of empty reads.
func readUntil(t *testing.T, s *Source, done func([]sdk.Record) bool) ([]sdk.Record, sdk.Position) {
	t.Helper()
	ctx := context.Background()
	var all []sdk.Record
	var last sdk.Position
	for empty := 0; !done(all); {
		recs, err := s.Read(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			if empty++; empty > 120 {
				t.Fatalf("nothing more after %d records", len(all))
			}
			continue
		}
		all = append(all, recs...)
		last = recs[len(recs)-1].Position
		if err := s.Ack(ctx, last); err != nil {
			t.Fatal(err)
		}
	}
	return all, last
}

// TestLogicalSnapshotHandover writes rows while the snapshot is read:
// every row arrives exactly once, whether through the snapshot or the
// stream. CRMHUB_CDC_ROWS sets the table's size (default 5000).
func TestLogicalSnapshotHandover(t *testing.T) {
	rows := 5000
	if v, err := strconv.Atoi(os.Getenv("CRMHUB_CDC_ROWS")); err == nil && v > 0 {
		rows = v
	}
	const written = 2000
	b, slot := logicalBackend(t, `CREATE TABLE customers (id bigint PRIMARY KEY, name text)`)
	b.exec(t, `INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, $1::int) g`, rows)
	s := openLogicalSource(t, logicalConfig(b, slot, map[string]any{"name": "customers", "table": "customers", "key": "id", "change_detection": "logical"}), nil)
	defer s.Teardown(context.Background())

	// The writer starts once the slot exists and runs while the snapshot
	// is paged through.
	var wg sync.WaitGroup
	wg.Add(1)
	werr := make(chan error, 1)
	go func() {
		defer wg.Done()
		for i := 0; i < written; i += 10 {
			if _, err := b.db.Exec(`INSERT INTO customers SELECT g, 'w' || g FROM generate_series($1::int, $2::int) g`, rows+i+1, rows+i+10); err != nil {
				werr <- err
				return
			}
		}
	}()
	seen := map[string]int{}
	total := rows + written
	all, _ := readUntil(t, s, func(recs []sdk.Record) bool { return len(recs) >= total })
	wg.Wait()
	select {
	case err := <-werr:
		t.Fatal(err)
	default:
	}
	// A few more reads: nothing else may come.
	for range 3 {
		recs, err := s.Read(context.Background(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	fromSnapshot := 0
	for _, r := range all {
		if r.Op != sdk.OpUpsert {
			t.Fatalf("record %s: op %s", r.ID, r.Op)
		}
		seen[r.ID]++
		if id, _ := strconv.Atoi(r.ID); id <= rows {
			fromSnapshot++
		}
	}
	if fromSnapshot != rows {
		t.Errorf("%d records of the %d rows there before the slot, want each once", fromSnapshot, rows)
	}
	lost, dup := 0, 0
	for i := 1; i <= total; i++ {
		switch seen[strconv.Itoa(i)] {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	if lost != 0 || dup != 0 || len(seen) != total {
		t.Fatalf("%d rows: %d lost, %d duplicated, %d distinct keys read", total, lost, dup, len(seen))
	}
}

// TestLogicalRestartDeletesChildren stops the source, changes parents and
// children while it is down, and restarts it from its last acknowledged
// position: the slot replays the changes; an update, a delete and child
// inserts, updates and deletes all reach the parent records.
func TestLogicalRestartDeletesChildren(t *testing.T) {
	b, slot := logicalBackend(t, `CREATE TABLE party (id text PRIMARY KEY, name text);
		CREATE TABLE address (id bigint PRIMARY KEY, party_id text REFERENCES party ON DELETE CASCADE, city text);
		ALTER TABLE address REPLICA IDENTITY FULL;
		INSERT INTO party VALUES ('p1', 'Ana'), ('p2', 'Bo'), ('p3', 'Cy');
		INSERT INTO address VALUES (1, 'p1', 'Lyon'), (2, 'p2', 'Graz')`)
	cfg := logicalConfig(b, slot, map[string]any{"name": "party", "table": "party", "key": "id", "change_detection": "logical",
		"children": []any{map[string]any{"name": "addresses", "table": "address", "key": "id", "parent_key": "party_id"}}})
	s := openLogicalSource(t, cfg, nil)
	snap, pos := readUntil(t, s, func(r []sdk.Record) bool { return len(r) >= 3 })
	if got := payloadOf(t, snap, "p1"); got["addresses"] == nil || len(got["addresses"].([]any)) != 1 {
		t.Fatalf("snapshot p1 = %v", got)
	}
	var p cdcPos
	if err := json.Unmarshal(pos, &p); err != nil || p.Snapshot {
		t.Fatalf("position after the snapshot %s: want the snapshot done", pos)
	}
	// One change the source reads but whose batch is never acknowledged:
	// after the restart it comes again.
	b.exec(t, `UPDATE party SET name = 'Ana 2' WHERE id = 'p1'`)
	unacked, err := readOne(s)
	if err != nil || len(unacked) != 1 || unacked[0].ID != "p1" {
		t.Fatalf("stream: %v %v", unacked, err)
	}
	s.Teardown(context.Background())
	if c, u := confirmedLSN(t, b, slot), posLSN(t, unacked[0].Position); c >= u {
		t.Fatalf("slot confirmed %s, at or past the unacknowledged record's %s", c, u)
	}

	b.exec(t, `DELETE FROM party WHERE id = 'p3'`)
	b.exec(t, `INSERT INTO address VALUES (3, 'p1', 'Nice')`)
	b.exec(t, `DELETE FROM address WHERE id = 2`)
	b.exec(t, `UPDATE address SET party_id = 'p2' WHERE id = 1`)

	s = openLogicalSource(t, cfg, pos)
	defer s.Teardown(context.Background())
	last := map[string]sdk.Record{}
	_, end := readUntil(t, s, func(recs []sdk.Record) bool {
		for _, r := range recs {
			last[r.ID] = r
		}
		p1, p2 := payloadOfRec(t, last["p1"]), payloadOfRec(t, last["p2"])
		return last["p3"].Op == sdk.OpDelete && p1["name"] == "Ana 2" && addrCities(p1) == "Nice" && addrCities(p2) == "Lyon"
	})
	// Acknowledged: the server is told, so it may recycle the WAL.
	want := posLSN(t, end)
	for i := 0; confirmedLSN(t, b, slot) < want; i++ {
		if i > 100 {
			t.Fatalf("slot confirmed %s, want %s after the ack", confirmedLSN(t, b, slot), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func confirmedLSN(t *testing.T, b backend, slot string) pglogrepl.LSN {
	t.Helper()
	var l pglogrepl.LSN
	if err := b.db.QueryRow(`SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

func posLSN(t *testing.T, pos sdk.Position) pglogrepl.LSN {
	t.Helper()
	var p cdcPos
	if err := json.Unmarshal(pos, &p); err != nil {
		t.Fatal(err)
	}
	l, err := pglogrepl.ParseLSN(p.LSN)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func readOne(s *Source) ([]sdk.Record, error) {
	for range 60 {
		recs, err := s.Read(context.Background(), 1000)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
	}
	return nil, fmt.Errorf("nothing read")
}

func payloadOf(t *testing.T, recs []sdk.Record, id string) map[string]any {
	t.Helper()
	for _, r := range recs {
		if r.ID == id {
			return payloadOfRec(t, r)
		}
	}
	t.Fatalf("no record %s", id)
	return nil
}

func payloadOfRec(t *testing.T, r sdk.Record) map[string]any {
	t.Helper()
	if r.Payload == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(r.Payload, &m); err != nil {
		t.Fatalf("record %s: %v: %s", r.ID, err, r.Payload)
	}
	return m
}

// addrCities lists the cities of a party record's addresses.
func addrCities(p map[string]any) string {
	a, _ := p["addresses"].([]any)
	var out []string
	for _, x := range a {
		out = append(out, fmt.Sprint(x.(map[string]any)["city"]))
	}
	return strings.Join(out, ",")
}

// TestLogicalChecks: what logical mode needs is named before anything is
// created.
func TestLogicalChecks(t *testing.T) {
	b, slot := logicalBackend(t, `CREATE TABLE party (id text PRIMARY KEY, name text);
		CREATE TABLE address (id bigint PRIMARY KEY, party_id text, city text)`)
	cfg := logicalConfig(b, slot, map[string]any{"name": "party", "table": "party", "key": "id", "change_detection": "logical",
		"children": []any{map[string]any{"name": "addresses", "table": "address", "key": "id", "parent_key": "party_id"}}})
	s := &Source{}
	ctx := context.Background()
	if err := s.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	err := s.Open(ctx, nil)
	s.Teardown(ctx)
	if err == nil || !strings.Contains(err.Error(), "REPLICA IDENTITY FULL") || !strings.Contains(err.Error(), "address") {
		t.Fatalf("Open: %v, want the child table's replica identity named", err)
	}
	bad := logicalConfig(b, "", map[string]any{"name": "party", "table": "party", "key": "id", "change_detection": "logical"},
		map[string]any{"name": "x", "table": "address", "key": "id", "cursor": "city"})
	if err := (&Source{}).Configure(ctx, bad); err == nil || !strings.Contains(err.Error(), "slot") || !strings.Contains(err.Error(), "1 of 2 entities") {
		t.Fatalf("Configure: %v", err)
	}
}

// TestLogicalRecovers: the connections of a running source are killed,
// once while the snapshot is read and once while it streams; Read reports
// the failure, then goes on (a new snapshot, or the stream from the
// acknowledged LSN), and no row is lost.
func TestLogicalRecovers(t *testing.T) {
	b, slot := logicalBackend(t, `CREATE TABLE customers (id bigint PRIMARY KEY, name text);
		INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g`)
	app := "crmhub_" + slot
	cfg := logicalConfig(b, slot, map[string]any{"name": "customers", "table": "customers", "key": "id", "change_detection": "logical"})
	cfg["dsn"] = b.dsn + "&application_name=" + app
	cfg["batch_size"] = 10
	s := openLogicalSource(t, cfg, nil)
	defer s.Teardown(context.Background())
	ctx := context.Background()
	seen := map[string]bool{}
	failures := 0
	read := func(until func() bool) {
		t.Helper()
		for i := 0; !until(); i++ {
			if i > 300 {
				t.Fatalf("stuck: %d keys seen, %d failures", len(seen), failures)
			}
			recs, err := s.Read(ctx, 10)
			if err != nil {
				t.Logf("read failed: %v", err)
				failures++
				time.Sleep(50 * time.Millisecond)
				continue
			}
			for _, r := range recs {
				seen[r.ID] = true
			}
			if len(recs) > 0 {
				if err := s.Ack(ctx, recs[len(recs)-1].Position); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	read(func() bool { return len(seen) >= 10 })
	// The snapshot transaction's backend goes away mid-snapshot.
	b.exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND backend_type = 'client backend' AND state LIKE 'idle in transaction%'`, app)
	read(func() bool { return len(seen) == 50 })
	if s.cdc.tx != nil {
		t.Fatal("the snapshot's last page (exactly batch_size rows) did not end it")
	}
	// And the walsender while streaming.
	var pid sql.NullInt64
	for i := 0; !pid.Valid; i++ {
		// The walsender takes the slot a moment after START_REPLICATION.
		if err := b.db.QueryRow(`SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&pid); err != nil || i > 100 {
			t.Fatalf("walsender: %v %v", pid, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.exec(t, `SELECT pg_terminate_backend($1::int)`, pid.Int64)
	for active := true; active; {
		if err := b.db.QueryRow(`SELECT active FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&active); err != nil {
			t.Fatal(err)
		}
	}
	b.exec(t, `INSERT INTO customers VALUES (51, 'after the kill')`)
	read(func() bool { return seen["51"] })
	if failures < 2 {
		t.Errorf("%d failed reads, want one per killed connection at least", failures)
	}
}

// TestLogicalRestartMidSnapshot: a source stopped during its snapshot
// starts it over (the exported snapshot died with its connection) with
// the slot recreated, and reads every row.
func TestLogicalRestartMidSnapshot(t *testing.T) {
	b, slot := logicalBackend(t, `CREATE TABLE customers (id bigint PRIMARY KEY, name text);
		INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 30) g`)
	cfg := logicalConfig(b, slot, map[string]any{"name": "customers", "table": "customers", "key": "id", "change_detection": "logical"})
	cfg["batch_size"] = 10
	s := openLogicalSource(t, cfg, nil)
	first, err := s.Read(context.Background(), 10)
	if err != nil || len(first) != 10 {
		t.Fatalf("first page: %d records, %v", len(first), err)
	}
	if err := s.Teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s = openLogicalSource(t, cfg, first[len(first)-1].Position)
	defer s.Teardown(context.Background())
	recs, pos := readUntil(t, s, func(r []sdk.Record) bool { return len(r) >= 30 })
	ids := map[string]bool{}
	for _, r := range recs {
		ids[r.ID] = true
	}
	if len(recs) != 30 || len(ids) != 30 {
		t.Fatalf("after the restart: %d records, %d keys; want the 30 rows once", len(recs), len(ids))
	}
	if p := string(pos); strings.Contains(p, "snapshot") {
		t.Fatalf("last position %s: want the snapshot done", p)
	}
}

// TestLogicalPrivileges: a role without REPLICATION is told what to grant,
// before anything is created.
func TestLogicalPrivileges(t *testing.T) {
	b, slot := logicalBackend(t, `CREATE TABLE party (id text PRIMARY KEY, name text)`)
	role := slot + "_role"
	b.exec(t, `CREATE ROLE `+role+` LOGIN`)
	t.Cleanup(func() {
		_, _ = b.db.Exec(`DROP OWNED BY ` + role)
		_, _ = b.db.Exec(`DROP ROLE ` + role)
	})
	b.exec(t, `GRANT USAGE ON SCHEMA `+currentSchema(t, b)+` TO `+role)
	b.exec(t, `GRANT SELECT ON party TO `+role)
	dsn := strings.Replace(b.dsn, "postgres://postgres@", "postgres://"+role+"@", 1)
	cfg := logicalConfig(b, slot, map[string]any{"name": "party", "table": "party", "key": "id", "change_detection": "logical"})
	cfg["dsn"] = dsn
	s := &Source{}
	ctx := context.Background()
	if err := s.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	err := s.Open(ctx, nil)
	s.Teardown(ctx)
	if err == nil || !strings.Contains(err.Error(), "REPLICATION attribute") {
		t.Fatalf("Open as a role without REPLICATION: %v", err)
	}
	var n int
	if err := b.db.QueryRow(`SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a slot was created (%d, %v)", n, err)
	}
}

func currentSchema(t *testing.T, b backend) string {
	t.Helper()
	var s string
	if err := b.db.QueryRow(`SELECT current_schema()`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}
