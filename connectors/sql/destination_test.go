package sqlconn

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub/testenv"
	"github.com/crmhub/crmhub/plugins/sdk"
)

func newDest(t *testing.T, b backend, ent map[string]any) *Destination {
	t.Helper()
	d := Connector.NewDestination().(*Destination)
	cfg := sdk.Config{"driver": b.driver, "dsn": b.dsn, "timezone": "Europe/Berlin", "entities": []any{ent}}
	ctx := context.Background()
	if err := d.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := d.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Teardown(context.Background()) })
	return d
}

func rec(entity, id string, op sdk.Operation, payload string) sdk.Record {
	return sdk.Record{Entity: entity, ID: id, Op: op, Payload: []byte(payload)}
}

// destScenario writes a batch mixing good and bad records, reads the table
// back through the sql source, and deletes softly and for real.
func destScenario(t *testing.T, b backend) {
	ctx := context.Background()
	ent := map[string]any{"name": "customers", "table": "customers", "key": "id", "columns": []any{"name", "amount", "updated_at", "data"}, "deleted": "deleted"}
	d := newDest(t, b, ent)
	batch := []sdk.Record{
		rec("customers", "1", sdk.OpUpsert, `{"id": 1, "name": "Anna \"Ä\"", "amount": "12.50", "updated_at": "2024-03-01T10:00:00+01:00", "data": "AAEC"}`),
		rec("customers", "2", sdk.OpUpsert, `{"name": "Bob", "credit_limit": "900", "updated_at": "2024-03-01T10:00:00+01:00"}`),
		rec("customers", "3", sdk.OpUpsert, `{"name": "Carl", "amount": 7, "updated_at": "2024-03-01T10:00:00Z"}`),
		rec("orders", "4", sdk.OpUpsert, `{"name": "x"}`),
		rec("customers", "5", sdk.OpUpsert, `[1, 2]`),
		rec("customers", "5", sdk.OpUpsert, `{"id": 6, "name": "Eve"}`),
		rec("customers", "7", sdk.OpUpsert, `{"name": "Nobody", "updated_at": null}`),
		rec("customers", "3", sdk.OpUpsert, `{"name": "Carla"}`),
	}
	res, err := d.Write(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(batch) {
		t.Fatalf("%d results for %d records", len(res), len(batch))
	}
	wantErr := map[int][]string{
		1: {"record 2", "credit_limit", "allow-list"},
		3: {"orders", "not configured"},
		4: {"record 5", "not a JSON object"},
		5: {"record 5", "id", "not the record id"},
		6: {"record 7", "upsert"},
	}
	for i, r := range res {
		want, bad := wantErr[i]
		switch {
		case !bad && r.Error != "":
			t.Errorf("record %d: unexpected error %s", i, r.Error)
		case bad && r.Error == "":
			t.Errorf("record %d: want an error mentioning %v", i, want)
		case bad:
			for _, w := range want {
				if !strings.Contains(r.Error, w) {
					t.Errorf("record %d: error %q does not mention %q", i, r.Error, w)
				}
			}
		}
	}
	if res[0].ID != "1" || res[7].ID != "3" {
		t.Errorf("result ids %q %q", res[0].ID, res[7].ID)
	}

	// Read the table back through the source: what was written is what
	// the source reports, and a refused record left no row.
	s := newSource(t, b, nil, 100, nil)
	got := drain(t, s, 100)
	if ids := ids(got); !slices.Equal(ids, []string{"1", "3"}) {
		t.Fatalf("rows %v, want 1 and 3", ids)
	}
	p := payload(t, got[0])
	if p["name"] != `Anna "Ä"` || p["updated_at"] != "2024-03-01T10:00:00+01:00" || p["data"] != "AAEC" || !strings.HasPrefix(fmt.Sprint(p["amount"]), "12.5") {
		t.Errorf("row 1 read back as %s", got[0].Payload)
	}
	// Record 3 was written twice; the second write touched only name.
	p = payload(t, got[1])
	if p["name"] != "Carla" || p["updated_at"] != "2024-03-01T11:00:00+01:00" || !strings.HasPrefix(fmt.Sprint(p["amount"]), "7") {
		t.Errorf("row 3 read back as %s", got[1].Payload)
	}

	// Soft delete, then a write makes the row live again.
	if res, err := d.Write(ctx, []sdk.Record{rec("customers", "1", sdk.OpDelete, "")}); err != nil || res[0].Error != "" {
		t.Fatalf("delete: %v %+v", err, res)
	}
	if !b.deleted(t, 1) {
		t.Error("row 1 not soft-deleted")
	}
	if res, err := d.Write(ctx, []sdk.Record{rec("customers", "1", sdk.OpUpsert, `{"name": "Anna"}`)}); err != nil || res[0].Error != "" {
		t.Fatalf("rewrite: %v %+v", err, res)
	}
	if b.deleted(t, 1) {
		t.Error("row 1 still deleted after a new write")
	}

	// Without a soft-delete column a delete removes the row.
	delete(ent, "deleted")
	hard := newDest(t, b, ent)
	if res, err := hard.Write(ctx, []sdk.Record{rec("customers", "3", sdk.OpDelete, "")}); err != nil || res[0].Error != "" {
		t.Fatalf("hard delete: %v %+v", err, res)
	}
	var n int
	if err := b.db.QueryRow("SELECT COUNT(*) FROM customers WHERE id = 3").Scan(&n); err != nil || n != 0 {
		t.Errorf("row 3 still there (%d, %v)", n, err)
	}
}

func (b backend) deleted(t *testing.T, id int) bool {
	t.Helper()
	var v any
	if err := b.db.QueryRow(fmt.Sprintf("SELECT deleted FROM customers WHERE id = %d", id)).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return truthy(v)
}

func payload(t *testing.T, r sdk.Record) map[string]any {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(r.Payload, &p); err != nil {
		t.Fatalf("payload %s: %v", r.Payload, err)
	}
	return p
}

func TestDestinationSQLite(t *testing.T)              { destScenario(t, sqliteBackend(t)) }
func TestDestinationPostgresIntegration(t *testing.T) { destScenario(t, postgresBackend(t)) }
func TestDestinationMariaDBIntegration(t *testing.T)  { destScenario(t, mariadbBackend(t)) }

// TestDestinationQuoting writes to a table and columns named after SQL
// keywords and with a quote in a name: identifiers must be quoted.
func TestDestinationQuoting(t *testing.T) {
	b := openBackend(t, backend{driver: "sqlite", dsn: "file:" + filepath.Join(t.TempDir(), "q.db"),
		ddl: `CREATE TABLE "order" ("select" TEXT PRIMARY KEY, "group" TEXT, "we""ird" TEXT)`})
	d := newDest(t, b, map[string]any{"name": "orders", "table": "order", "key": "select", "columns": []any{"group", `we"ird`}})
	res, err := d.Write(context.Background(), []sdk.Record{rec("orders", "a'; DROP TABLE x; --", sdk.OpUpsert, `{"group": "g", "we\"ird": "w"}`)})
	if err != nil || res[0].Error != "" {
		t.Fatalf("%v %+v", err, res)
	}
	var g, w string
	if err := b.db.QueryRow(`SELECT "group", "we""ird" FROM "order" WHERE "select" = ?`, "a'; DROP TABLE x; --").Scan(&g, &w); err != nil || g != "g" || w != "w" {
		t.Fatalf("read back %q %q %v", g, w, err)
	}
	if got, want := dialects["mysql"].upsert("a.b", []string{"k", "c`x"}), "INSERT INTO `a`.`b` (`k`, `c``x`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `c``x` = VALUES(`c``x`)"; got != want {
		t.Errorf("mysql upsert\n got %s\nwant %s", got, want)
	}
}

func TestDestinationConfig(t *testing.T) {
	ctx := context.Background()
	err := Connector.NewDestination().Configure(ctx, sdk.Config{"driver": "sqlite", "dsn": "x",
		"entities": []any{map[string]any{"name": "c", "table": "t", "key": "id"}, map[string]any{"name": "d", "query": "SELECT 1", "key": "id", "columns": []any{"a"}}}})
	if err == nil || !strings.Contains(err.Error(), "query") {
		t.Errorf("query in a destination: %v", err)
	}
	err = Connector.NewDestination().Configure(ctx, sdk.Config{"driver": "sqlite", "dsn": "x",
		"entities": []any{map[string]any{"name": "c", "table": "t", "key": "id"}}})
	if err == nil || !strings.Contains(err.Error(), "columns") {
		t.Errorf("no columns: %v", err)
	}
	// A column missing from the table fails at Open, naming it.
	b := sqliteBackend(t)
	d := Connector.NewDestination()
	if err := d.Configure(ctx, sdk.Config{"driver": "sqlite", "dsn": b.dsn, "entities": []any{map[string]any{"name": "c", "table": "customers", "key": "id", "columns": []any{"name", "emial"}}}}); err != nil {
		t.Fatal(err)
	}
	defer d.Teardown(ctx)
	if err := d.Open(ctx); err == nil || !strings.Contains(err.Error(), "emial") {
		t.Errorf("missing column: %v", err)
	}
}

// TestDestinationDatabaseGone: when the database is unreachable, a batch
// with nothing written fails as a whole, so the caller retries it.
func TestDestinationDatabaseGone(t *testing.T) {
	b := sqliteBackend(t)
	d := newDest(t, b, map[string]any{"name": "customers", "table": "customers", "key": "id", "columns": []any{"name", "updated_at"}})
	d.db.Close()
	res, err := d.Write(context.Background(), []sdk.Record{rec("customers", "1", sdk.OpUpsert, `{"name": "x", "updated_at": "2024-01-01T00:00:00Z"}`)})
	if err == nil || res != nil {
		t.Fatalf("want a batch error, got %v %+v", err, res)
	}
}

// TestDestinationValueTypes writes JSON values into columns of other types,
// as reverse mappings produce them (a postcode as a number into a text
// column, a decimal as a string into a float column, an object into JSON),
// and reads them back as text.
func TestDestinationValueTypes(t *testing.T) {
	for _, tc := range []struct {
		name string
		be   func(*testing.T) backend
		ddl  string
		text string // selects the columns as text
	}{
		{"postgres", func(t *testing.T) backend { return backend{driver: "postgres", dsn: testenv.Postgres(t)} },
			`CREATE TABLE p (id text PRIMARY KEY, t text, n numeric(10,2), f float8, b boolean, j jsonb, i int)`,
			`SELECT t, n::text, f::text, b::text, j::text, i::text FROM p WHERE id = 'a'`},
		{"mariadb", func(t *testing.T) backend { return backend{driver: "mysql", dsn: testenv.MariaDB(t)} },
			`CREATE TABLE p (id varchar(20) PRIMARY KEY, t text, n decimal(10,2), f double, b boolean, j json, i int)`,
			`SELECT t, CAST(n AS CHAR), CAST(f AS CHAR), CAST(b AS CHAR), j, CAST(i AS CHAR) FROM p WHERE id = 'a'`},
		{"sqlite", func(t *testing.T) backend {
			return backend{driver: "sqlite", dsn: "file:" + filepath.Join(t.TempDir(), "v.db")}
		}, `CREATE TABLE p (id TEXT PRIMARY KEY, t TEXT, n NUMERIC, f REAL, b BOOLEAN, j TEXT, i INTEGER)`,
			`SELECT t, CAST(n AS TEXT), CAST(f AS TEXT), CAST(b AS TEXT), j, CAST(i AS TEXT) FROM p WHERE id = 'a'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.be(t)
			b.ddl = tc.ddl
			b = openBackend(t, b)
			d := newDest(t, b, map[string]any{"name": "p", "table": "p", "key": "id", "columns": []any{"t", "n", "f", "b", "j", "i"}})
			res, err := d.Write(context.Background(), []sdk.Record{
				rec("p", "a", sdk.OpUpsert, `{"t": 10115, "n": "12.50", "f": "1.25", "b": true, "j": {"x": [1, 2]}, "i": "42"}`),
				rec("p", "b", sdk.OpUpsert, `{"i": "forty-two"}`),
			})
			if err != nil || res[0].Error != "" {
				t.Fatalf("%v %+v", err, res)
			}
			if tc.name != "sqlite" && !strings.Contains(res[1].Error, "record b") {
				t.Errorf("a word into an int column: %+v", res[1])
			}
			var got [6]string
			if err := b.db.QueryRow(tc.text).Scan(&got[0], &got[1], &got[2], &got[3], &got[4], &got[5]); err != nil {
				t.Fatal(err)
			}
			j := strings.ReplaceAll(got[4], " ", "")
			if got[0] != "10115" || got[1] != "12.50" && got[1] != "12.5" || got[2] != "1.25" || (got[3] != "true" && got[3] != "1") || j != `{"x":[1,2]}` || got[5] != "42" {
				t.Errorf("read back %q", got)
			}
		})
	}
}
