package sqlconn

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// readVersion reads row id through the source, as the hub would see it, and
// returns its version (the record's UpdatedAt).
func readVersion(t *testing.T, b backend, id string) time.Time {
	t.Helper()
	for _, r := range drain(t, newSource(t, b, nil, 100, nil), 100) {
		if r.ID == id {
			if r.UpdatedAt.IsZero() {
				t.Fatalf("row %s read without a version", id)
			}
			return r.UpdatedAt
		}
	}
	t.Fatalf("row %s not read", id)
	return time.Time{}
}

// condWrite writes one record with the meta the hub's writer sends.
func condWrite(t *testing.T, d *Destination, id, payload string, seen time.Time, lastWritten string) sdk.WriteResult {
	t.Helper()
	r := rec("customers", id, sdk.OpUpsert, payload)
	r.Meta = map[string]string{}
	if !seen.IsZero() {
		r.Meta[sdk.MetaSeenVersion] = seen.UTC().Format(time.RFC3339Nano)
	}
	if lastWritten != "" {
		r.Meta[sdk.MetaLastWritten] = lastWritten
	}
	res, err := d.Write(context.Background(), []sdk.Record{r})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

func (b backend) name(t *testing.T, id int) string {
	t.Helper()
	var n string
	if err := b.db.QueryRow(fmt.Sprintf("SELECT name FROM customers WHERE id = %d", id)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// condScenario: with version_column, a row edited in the system after the
// hub read it is not overwritten (the result is a conflict); crmhub's own
// earlier write is not mistaken for such an edit; once the hub has read the
// edit, the next write goes through.
func condScenario(t *testing.T, b backend) {
	d := newDest(t, b, map[string]any{"name": "customers", "table": "customers", "key": "id",
		"columns": []any{"name", "updated_at"}, "deleted": "deleted", "version_column": "updated_at"})
	b.insert(t, 1, "Anna", t1)
	seen := readVersion(t, b, "1")

	// The hub writes a golden value. The version column is set from the
	// database's clock, not from the time the record carries (a source's
	// business time, here years old), and the result says what was set.
	before := time.Now().Add(-2 * time.Second)
	r1 := condWrite(t, d, "1", `{"name": "Anna Hub", "updated_at": "2024-03-01T10:30:00+01:00"}`, seen, "")
	if r1.Error != "" {
		t.Fatalf("first write: %s", r1.Error)
	}
	last := r1.Meta[sdk.MetaLastWritten]
	if last == "" || strings.Contains(last, "2024-03-01") {
		t.Fatalf("first write: last_written %q, want the database's clock", last)
	}
	if v := readVersion(t, b, "1"); v.Before(before) || v.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("version after crmhub's write is %v, want the database's clock (about %v)", v, time.Now())
	}
	// A second write before the system re-reported the row: the row's
	// version is the one crmhub's last write set, not an edit.
	r2 := condWrite(t, d, "1", `{"name": "Anna Hub 2", "updated_at": "2024-03-01T10:40:00+01:00"}`, seen, last)
	if r2.Error != "" {
		t.Fatalf("second write over crmhub's own: %s", r2.Error)
	}
	last = r2.Meta[sdk.MetaLastWritten]
	// Without what crmhub wrote last, the same row is a conflict.
	if r := condWrite(t, d, "1", `{"name": "x", "updated_at": "2024-03-01T10:50:00+01:00"}`, seen, ""); !strings.HasPrefix(r.Error, sdk.ConflictPrefix) {
		t.Fatalf("a row newer than seen, nothing written by crmhub: %+v", r)
	}

	// Someone edits the row in the ERP; the hub has not read it yet.
	b.exec(t, fmt.Sprintf("UPDATE customers SET name = %s, updated_at = %s WHERE id = 1", b.ph(1), b.ph(2)), "Anna ERP", t3)
	r := condWrite(t, d, "1", `{"name": "Anna Hub 3", "updated_at": "2024-03-01T10:50:00+01:00"}`, seen, last)
	if !strings.HasPrefix(r.Error, sdk.ConflictPrefix) || !strings.Contains(r.Error, "changed in customers since "+seen.UTC().Format(time.RFC3339Nano)) || r.ID != "1" {
		t.Fatalf("write over an unseen edit: %+v", r)
	}
	if n := b.name(t, 1); n != "Anna ERP" {
		t.Fatalf("the ERP's edit was overwritten: name %q", n)
	}
	// The edit comes in through the source; the next write goes through.
	seen2 := readVersion(t, b, "1")
	if !seen2.After(seen) {
		t.Fatalf("version read after the edit %v, not after %v", seen2, seen)
	}
	if r := condWrite(t, d, "1", `{"name": "Anna Survivor", "updated_at": "2024-03-01T12:00:00+01:00"}`, seen2, last); r.Error != "" {
		t.Fatalf("write after the edit was read: %s", r.Error)
	}
	if n := b.name(t, 1); n != "Anna Survivor" {
		t.Fatalf("name %q after the converging write", n)
	}

	// Creates: a row the hub never saw is inserted when absent...
	created := condWrite(t, d, "9", `{"name": "New", "updated_at": "2024-03-01T10:00:00Z"}`, time.Time{}, "")
	if created.Error != "" {
		t.Fatalf("create: %s", created.Error)
	}
	if n := b.name(t, 9); n != "New" {
		t.Fatalf("created row name %q", n)
	}
	// ...crmhub's own created row is updated before the system reported it...
	if r := condWrite(t, d, "9", `{"name": "New 2", "updated_at": "2024-03-01T10:05:00Z"}`, time.Time{}, created.Meta[sdk.MetaLastWritten]); r.Error != "" {
		t.Fatalf("update of crmhub's created row: %s", r.Error)
	}
	// ...but a row the hub knows nothing of is not overwritten.
	if r := condWrite(t, d, "9", `{"name": "Other"}`, time.Time{}, ""); !strings.HasPrefix(r.Error, sdk.ConflictPrefix) {
		t.Fatalf("write over a row the hub never saw: %+v", r)
	}
	// A row the hub saw that is gone was deleted in the system: not
	// written again.
	b.exec(t, "DELETE FROM customers WHERE id = 9")
	if r := condWrite(t, d, "9", `{"name": "Again"}`, seen, ""); !strings.HasPrefix(r.Error, sdk.ConflictPrefix) || !strings.Contains(r.Error, "deleted") {
		t.Fatalf("write of a row deleted in the system: %+v", r)
	}
	var n int
	if err := b.db.QueryRow("SELECT COUNT(*) FROM customers WHERE id = 9").Scan(&n); err != nil || n != 0 {
		t.Fatalf("deleted row written again (%d, %v)", n, err)
	}
	// A bad meta value is the record's error, not a conflict.
	rr := rec("customers", "1", sdk.OpUpsert, `{"name": "x"}`)
	rr.Meta = map[string]string{sdk.MetaSeenVersion: "yesterday"}
	res, err := d.Write(context.Background(), []sdk.Record{rr})
	if err != nil || res[0].Error == "" || strings.HasPrefix(res[0].Error, sdk.ConflictPrefix) || !strings.Contains(res[0].Error, sdk.MetaSeenVersion) {
		t.Fatalf("bad seen_version: %v %+v", err, res)
	}
}

func TestDestinationConditionalSQLite(t *testing.T)              { condScenario(t, sqliteBackend(t)) }
func TestDestinationConditionalPostgresIntegration(t *testing.T) { condScenario(t, postgresBackend(t)) }
func TestDestinationConditionalMariaDBIntegration(t *testing.T)  { condScenario(t, mariadbBackend(t)) }

// TestDestinationConditionalTextVersion: SQLite text timestamps, as legacy
// tables keep them, compare as instants in the configured zone.
func TestDestinationConditionalTextVersion(t *testing.T) {
	b := openBackend(t, backend{driver: "sqlite", dsn: "file:" + filepath.Join(t.TempDir(), "t.db"),
		ddl: `CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, amount TEXT, updated_at TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, data BLOB)`})
	condScenario(t, b)
}

// TestDestinationVersionColumnChecked: Open refuses a version column that is
// missing or cannot hold a timestamp.
func TestDestinationVersionColumnChecked(t *testing.T) {
	ctx := context.Background()
	b := openBackend(t, backend{driver: "sqlite", dsn: "file:" + filepath.Join(t.TempDir(), "v.db"),
		ddl: `CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, rowver INTEGER NOT NULL DEFAULT 0)`})
	for _, tc := range []struct{ col, want string }{{"rowver", "version_column rowver is INTEGER"}, {"changed", "no column changed"}} {
		d := Connector.NewDestination()
		if err := d.Configure(ctx, sdk.Config{"driver": "sqlite", "dsn": b.dsn, "entities": []any{map[string]any{"name": "c", "table": "customers",
			"key": "id", "columns": []any{"name"}, "version_column": tc.col}}}); err != nil {
			t.Fatal(err)
		}
		err := d.Open(ctx)
		d.Teardown(ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("version_column %s: %v, want %q", tc.col, err, tc.want)
		}
	}
}
