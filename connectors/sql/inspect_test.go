package sqlconn

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub/hub/testenv"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// erpDDL is a small ERP: parties whose write_date stays NULL until a
// first edit, their addresses, orders and order lines.
var erpDDL = []string{
	`CREATE TABLE party (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, create_date TIMESTAMP NOT NULL, write_date TIMESTAMP NULL)`,
	`CREATE TABLE address (id INTEGER PRIMARY KEY, party_id INTEGER NOT NULL REFERENCES party(id), city VARCHAR(50), write_date TIMESTAMP NULL)`,
	`CREATE TABLE orders (id VARCHAR(20) PRIMARY KEY, party_id INTEGER REFERENCES party(id), total DECIMAL(12,2), updated_at TIMESTAMP NOT NULL)`,
	`CREATE TABLE order_line (id INTEGER PRIMARY KEY, order_id VARCHAR(20) REFERENCES orders(id), qty INTEGER, note TEXT)`,
	`INSERT INTO party VALUES (1, 'Ana', '2024-01-01 10:00:00', NULL), (2, 'Bo', '2024-01-02 10:00:00', '2024-02-01 09:00:00')`,
	`INSERT INTO address VALUES (1, 1, 'Lyon', '2024-01-01 10:00:00')`,
	`INSERT INTO orders VALUES ('SO-1', 1, 10.20, '2024-03-01 10:00:00')`,
	`INSERT INTO order_line VALUES (1, 'SO-1', 2, NULL)`,
}

// TestInspect: the proposal gathers addresses into parties and order
// lines into orders, proposes hash for the parties (write_date NULL in a
// row) and a cursor for the orders, and the config it prints is a valid
// sql source. SQLite's whole output is a golden file (-update rewrites it).
func TestInspect(t *testing.T) {
	cases := []struct {
		name string
		dsn  func(t *testing.T) (driver, dsn string)
	}{
		{"sqlite", func(t *testing.T) (string, string) { return "sqlite", "file:" + filepath.Join(t.TempDir(), "erp.db") }},
		{"postgres", func(t *testing.T) (string, string) { return "postgres", testenv.Postgres(t) }},
		{"mariadb", func(t *testing.T) (string, string) { return "mysql", testenv.MariaDB(t) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			driver, dsn := tc.dsn(t)
			b := openBackend(t, backend{driver: driver, dsn: dsn, ddl: "SELECT 1"})
			for _, q := range erpDDL {
				b.exec(t, q)
			}
			ctx := context.Background()
			in, err := Inspect(ctx, driver, dsn, 1)
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				Settings map[string]any `yaml:"settings"`
			}
			var list []yaml.Node
			if err := yaml.Unmarshal([]byte(in.ConfigYAML()), &list); err != nil || len(list) != 1 {
				t.Fatalf("proposed config: %v\n%s", err, in.ConfigYAML())
			}
			if err := list[0].Decode(&cfg); err != nil {
				t.Fatal(err)
			}
			cfg.Settings["dsn"] = dsn
			if err := (&Source{}).Configure(ctx, sdk.Config(cfg.Settings)); err != nil {
				t.Fatalf("proposed config does not configure: %v\n%s", err, in.ConfigYAML())
			}
			want := map[string]string{"party": "hash address", "orders": "cursor updated_at order_line"}
			if len(in.Entities) != len(want) {
				t.Fatalf("entities %+v, want party and orders", in.Entities)
			}
			for _, e := range in.Entities {
				got := e.ChangeDetection
				if e.Cursor != "" {
					got = "cursor " + e.Cursor
				}
				for _, c := range e.Children {
					got += " " + c.Table
				}
				if got != want[e.Name] {
					t.Errorf("entity %s: %q, want %q", e.Name, got, want[e.Name])
				}
			}
			var out bytes.Buffer
			if err := in.Write(&out); err != nil {
				t.Fatal(err)
			}
			if driver != "sqlite" {
				// SQLite stores a DECIMAL column with NUMERIC affinity,
				// as a REAL; the servers hand decimals over exactly.
				if !strings.Contains(out.String(), `total                    string          "10.20"`) {
					t.Errorf("a decimal must reach the mapping as a string:\n%s", out.String())
				}
				return
			}
			golden := filepath.Join("testdata", "inspect_sqlite.golden")
			if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			w, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(w) {
				t.Errorf("inspect output differs from %s (go test -run TestInspect -update rewrites it):\n%s", golden, out.String())
			}
		})
	}
}
