package sqlconn

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/connectors/internal/readme"
	"github.com/crmhub/crmhub/hub/testenv"
	"github.com/crmhub/crmhub/plugins/sdk"
)

func TestREADME(t *testing.T) { readme.Check(t, Connector.Spec, "README.md") }

// backend is one database the shared scenarios run against.
type backend struct {
	driver string
	dsn    string
	db     *sql.DB
	// ddl for the customers table: id, name, amount, updated_at, deleted, data.
	ddl string
	ts  func(i int) string // a timestamp literal the column accepts
}

func sqliteBackend(t *testing.T) backend {
	dsn := "file:" + filepath.Join(t.TempDir(), "erp.db")
	return openBackend(t, backend{driver: "sqlite", dsn: dsn,
		ddl: `CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, amount TEXT, updated_at DATETIME NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, data BLOB)`})
}

func postgresBackend(t *testing.T) backend {
	return openBackend(t, backend{driver: "postgres", dsn: testenv.Postgres(t),
		ddl: `CREATE TABLE customers (id bigint PRIMARY KEY, name text, amount numeric(20,6), updated_at timestamp(6) NOT NULL, deleted boolean NOT NULL DEFAULT false, data bytea)`})
}

func mariadbBackend(t *testing.T) backend {
	return openBackend(t, backend{driver: "mysql", dsn: testenv.MariaDB(t),
		ddl: "CREATE TABLE customers (id BIGINT PRIMARY KEY, name VARCHAR(100) NULL, amount DECIMAL(20,6) NULL, updated_at DATETIME(6) NOT NULL, deleted BOOLEAN NOT NULL DEFAULT 0, data BLOB NULL)"})
}

func openBackend(t *testing.T, b backend) backend {
	t.Helper()
	db, err := sql.Open(dialects[b.driver].driverName, b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b.db = db
	b.exec(t, b.ddl)
	return b
}

func (b backend) ph(i int) string {
	if b.driver == "postgres" {
		return fmt.Sprintf("$%d", i)
	}
	return "?"
}

func (b backend) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := b.db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (b backend) insert(t *testing.T, id int, name string, ts string) {
	t.Helper()
	b.exec(t, fmt.Sprintf("INSERT INTO customers (id, name, amount, updated_at) VALUES (%s, %s, %s, %s)", b.ph(1), b.ph(2), b.ph(3), b.ph(4)),
		id, name, fmt.Sprintf("%d.50", id), ts)
}

func (b backend) touch(t *testing.T, id int, ts string) {
	t.Helper()
	b.exec(t, fmt.Sprintf("UPDATE customers SET updated_at = %s WHERE id = %s", b.ph(1), b.ph(2)), ts, id)
}

func newSource(t *testing.T, b backend, pos sdk.Position, batch int, extra map[string]any) *Source {
	t.Helper()
	ent := map[string]any{"name": "customers", "table": "customers", "key": "id", "cursor": "updated_at", "deleted": "deleted"}
	for k, v := range extra {
		ent[k] = v
	}
	s := Connector.NewSource().(*Source)
	cfg := sdk.Config{"driver": b.driver, "dsn": b.dsn, "batch_size": batch, "timezone": "Europe/Berlin", "entities": []any{ent}}
	ctx := context.Background()
	if err := s.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx, pos); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Teardown(context.Background()) })
	return s
}

// drain reads until an empty batch.
func drain(t *testing.T, s *Source, max int) []sdk.Record {
	t.Helper()
	var out []sdk.Record
	for i := 0; ; i++ {
		recs, err := s.Read(context.Background(), max)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
		if i > 10000 {
			t.Fatal("source never caught up")
		}
	}
}

func ids(recs []sdk.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
		if r.Op == sdk.OpDelete {
			out[i] = "-" + r.ID
		}
	}
	return out
}

const (
	t1 = "2024-03-01 10:00:00"
	t2 = "2024-03-01 11:00:00"
	t3 = "2024-03-01 12:00:00"
	t4 = "2024-03-01 13:00:00"
)

// scenario: seven rows share one timestamp across page boundaries (pages of
// three), rows are updated while the snapshot runs, a row is soft-deleted.
func scenario(t *testing.T, b backend) {
	for i := 1; i <= 10; i++ {
		ts := t1
		if i > 7 {
			ts = t2
		}
		b.insert(t, i, fmt.Sprintf("name %d", i), ts)
	}
	s := newSource(t, b, nil, 3, nil)
	first, err := s.Read(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(first); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("first page %v", got)
	}
	// Row 2 was read already and changes; row 9 was not read yet and moves
	// past the end. Each must be read once more (2) or exactly once (9).
	b.touch(t, 2, t3)
	b.touch(t, 9, t3)
	rest := drain(t, s, 100)
	want := []string{"4", "5", "6", "7", "8", "10", "2", "9"}
	if got := ids(rest); !slices.Equal(got, want) {
		t.Fatalf("after updates got %v, want %v", got, want)
	}
	last := rest[len(rest)-1]
	if last.UpdatedAt.IsZero() || !last.UpdatedAt.Equal(time.Date(2024, 3, 1, 12, 0, 0, 0, mustLoc(t))) {
		t.Errorf("UpdatedAt %v, want 12:00 Europe/Berlin", last.UpdatedAt)
	}
	var p map[string]any
	if err := json.Unmarshal(last.Payload, &p); err != nil {
		t.Fatalf("payload %s: %v", last.Payload, err)
	}
	if p["name"] != "name 9" || p["updated_at"] != "2024-03-01T12:00:00+01:00" || p["data"] != nil {
		t.Errorf("payload %s", last.Payload)
	}
	if !strings.HasPrefix(fmt.Sprint(p["amount"]), "9.5") {
		t.Errorf("amount %v", p["amount"])
	}
	// Caught up: nothing more.
	if recs, err := s.Read(context.Background(), 100); err != nil || len(recs) != 0 {
		t.Fatalf("caught-up read: %v %v", ids(recs), err)
	}
	// Soft delete.
	b.exec(t, fmt.Sprintf("UPDATE customers SET deleted = %s, updated_at = %s WHERE id = 5", b.ph(1), b.ph(2)), true, t4)
	del := drain(t, s, 100)
	if got := ids(del); !slices.Equal(got, []string{"-5"}) {
		t.Fatalf("soft delete got %v", got)
	}

	// Resume from an acked position: a fresh source opened at the 4th
	// record (id 4 at t1) reads every row ordered after (t1, 4) in the
	// current table: 6 and 7 at t1, 8 and 10 at t2, 2 and 9 at t3, 5 deleted at t4.
	all := append(first, rest...)
	s2 := newSource(t, b, all[3].Position, 2, nil)
	if got, want := ids(drain(t, s2, 100)), []string{"6", "7", "8", "10", "2", "9", "-5"}; !slices.Equal(got, want) {
		t.Fatalf("resumed %v, want %v", got, want)
	}
}

func mustLoc(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestSQLite(t *testing.T)              { scenario(t, sqliteBackend(t)) }
func TestPostgresIntegration(t *testing.T) { scenario(t, postgresBackend(t)) }
func TestMariaDBIntegration(t *testing.T)  { scenario(t, mariadbBackend(t)) }
