package sqlconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub/testenv"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// typeRow is one column type of the README's types table: the SQL type and
// a literal stored in it.
type typeRow struct{ typ, literal string }

var typeTables = []struct {
	name   string // the README marker: <!-- types:NAME -->
	driver string
	dsn    func(t *testing.T) string
	rows   []typeRow
}{
	{"postgres", "postgres", func(t *testing.T) string { return testenv.Postgres(t) }, []typeRow{
		{"smallint", "7"}, {"integer", "42"}, {"bigint", "9007199254740993"},
		{"numeric(30,10)", "12345678901234567890.0123456789"}, {"money", "'12.34'"},
		{"real", "32.38"}, {"double precision", "0.1"}, {"boolean", "true"},
		{"text", "'Zoë'"}, {"varchar(10)", "'abc'"}, {"char(3)", "'ab'"},
		{"date", "'2024-07-01'"}, {"time", "'08:30:00'"},
		{"timestamp", "'2024-07-01 08:30:00.123456'"}, {"timestamptz", "'2024-07-01 08:30:00Z'"},
		{"interval", "'1 day 02:00:00'"}, {"bytea", `'\x00ff10'`}, {"uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"},
		{"json", `'{"a": 1}'`}, {"jsonb", `'{"a": 1}'`}, {"text[]", "'{a,b}'"}, {"integer[]", "'{1,2}'"},
		{"inet", "'10.0.0.1'"}, {"text (NULL)", "NULL"},
	}},
	{"mariadb", "mysql", func(t *testing.T) string { return testenv.MariaDB(t) }, []typeRow{
		{"TINYINT(1)", "1"}, {"INT", "42"}, {"BIGINT", "9007199254740993"}, {"BIGINT UNSIGNED", "18446744073709551615"},
		{"DECIMAL(30,10)", "12345678901234567890.0123456789"}, {"FLOAT", "32.38"}, {"DOUBLE", "0.1"},
		{"VARCHAR(10)", "'Zoë'"}, {"CHAR(3)", "'ab'"}, {"TEXT", "'abc'"}, {"ENUM('a','b')", "'b'"},
		{"DATE", "'2024-07-01'"}, {"TIME", "'08:30:00'"}, {"DATETIME(6)", "'2024-07-01 08:30:00.123456'"},
		{"TIMESTAMP", "'2024-07-01 08:30:00'"}, {"YEAR", "2024"}, {"BLOB", "X'00ff10'"}, {"JSON", `'{"a": 1}'`},
		{"BIT(8)", "b'101'"}, {"TEXT (NULL)", "NULL"},
	}},
	{"sqlite", "sqlite", func(t *testing.T) string { return "file:" + filepath.Join(t.TempDir(), "types.db") }, []typeRow{
		{"INTEGER", "42"}, {"REAL", "32.38"}, {"NUMERIC", "'12.50'"}, {"DECIMAL(10,2)", "12.50"},
		{"TEXT", "'Zoë'"}, {"TEXT (decimal as text)", "'12.50'"}, {"BLOB", "X'00ff10'"}, {"BLOB (decimal as text bytes)", "CAST('12.50' AS BLOB)"},
		{"BOOLEAN", "1"}, {"DATE", "'2024-07-01'"}, {"DATETIME", "'2024-07-01 08:30:00'"}, {"TIMESTAMP", "'2024-07-01T08:30:00Z'"},
		{"(no type)", "'x'"}, {"INTEGER GENERATED ALWAYS AS (c1 * 2)", ""}, {"TEXT (NULL)", "NULL"},
	}},
}

// TestTypesTable reads one row of every column type listed in the README's
// types tables through the source, and checks that the README shows what
// came out (go test -run TestTypesTable -update rewrites the tables).
func TestTypesTable(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	for _, tt := range typeTables {
		t.Run(tt.name, func(t *testing.T) {
			dsn := tt.dsn(t)
			var cols, vals []string
			for i, r := range tt.rows {
				typ, _, _ := strings.Cut(r.typ, " (")
				if strings.Contains(r.typ, "GENERATED") {
					typ = r.typ
				}
				if strings.HasPrefix(r.typ, "(") {
					typ = "" // SQLite: a column without a declared type
				}
				cols = append(cols, fmt.Sprintf("c%d %s", i+1, typ))
				if r.literal != "" {
					vals = append(vals, fmt.Sprintf("c%d", i+1))
				}
			}
			ddl := "CREATE TABLE types (id INTEGER PRIMARY KEY, " + strings.Join(cols, ", ") + ")"
			b := openBackend(t, backend{driver: tt.driver, dsn: dsn, ddl: ddl})
			var lits []string
			for _, r := range tt.rows {
				if r.literal != "" {
					lits = append(lits, r.literal)
				}
			}
			b.exec(t, "INSERT INTO types (id, "+strings.Join(vals, ", ")+") VALUES (1, "+strings.Join(lits, ", ")+")")
			s := Connector.NewSource()
			ctx := context.Background()
			if err := s.Configure(ctx, sdk.Config{"driver": tt.driver, "dsn": dsn, "timezone": "UTC",
				"entities": []any{map[string]any{"name": "types", "table": "types", "key": "id"}}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Open(ctx, nil); err != nil {
				t.Fatal(err)
			}
			defer s.Teardown(ctx)
			recs, err := s.Read(ctx, 10)
			if err != nil || len(recs) != 1 {
				t.Fatalf("read %d records, err %v", len(recs), err)
			}
			fields, err := SampleFields(recs[0].Payload)
			if err != nil {
				t.Fatal(err)
			}
			if tt.driver == "postgres" {
				// A subtest, so that without wal_level logical it shows as
				// skipped (and fails under CRMHUB_REQUIRE_SERVICES) instead
				// of passing unseen.
				t.Run("logical", func(t *testing.T) {
					testenv.RequireLogical(t, b.db)
					logicalSameTypes(t, b, dsn, vals, lits, recs[0].Payload)
				})
			}
			var md strings.Builder
			md.WriteString("| column type | stored | raw record (JSON) | the mapping sees |\n|---|---|---|---|\n")
			for i, r := range tt.rows {
				f := fields[i+1]
				lit := r.literal
				if lit == "" {
					lit = "(computed)"
				}
				fmt.Fprintf(&md, "| `%s` | `%s` | `%s` | %s |\n", r.typ, lit, f.JSON, f.GoType)
			}
			begin, end := "<!-- types:"+tt.name+" -->\n", "<!-- /types:"+tt.name+" -->"
			i, j := strings.Index(text, begin), strings.Index(text, end)
			if i < 0 || j < i {
				t.Fatalf("README.md: no %s ... %s section", strings.TrimSpace(begin), end)
			}
			got := md.String()
			if text[i+len(begin):j] == got {
				return
			}
			if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
				text = text[:i+len(begin)] + got + text[j:]
				return
			}
			t.Errorf("README.md types table %s differs from what the source reads (go test -run TestTypesTable -update):\n%s", tt.name, got)
		})
	}
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" && text != string(readme) {
		if err := os.WriteFile("README.md", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// logicalSameTypes checks that change_detection logical hands out a row
// streamed from the slot exactly as cursor polling reads it: the same
// values inserted as row 2 give row 1's payload.
func logicalSameTypes(t *testing.T, b backend, dsn string, cols, lits []string, want []byte) {
	t.Helper()
	buf := make([]byte, 4)
	_, _ = rand.Read(buf)
	slot := "crmhub_types_" + hex.EncodeToString(buf)
	t.Cleanup(func() {
		for range 50 {
			if _, err := b.db.Exec(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, slot); err == nil {
				var n int
				if b.db.QueryRow(`SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&n); n == 0 {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		_, _ = b.db.Exec(`DROP PUBLICATION IF EXISTS ` + slot)
	})
	s := &Source{}
	ctx := context.Background()
	cfg := sdk.Config{"driver": "postgres", "dsn": dsn, "slot": slot, "timezone": "UTC",
		"entities": []any{map[string]any{"name": "types", "table": "types", "key": "id", "change_detection": "logical"}}}
	if err := s.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Teardown(ctx)
	if recs, err := s.Read(ctx, 10); err != nil || len(recs) != 1 || string(recs[0].Payload) != string(want) {
		t.Fatalf("logical snapshot: %v %v", recs, err)
	}
	b.exec(t, "INSERT INTO types (id, "+strings.Join(cols, ", ")+") VALUES (2, "+strings.Join(lits, ", ")+")")
	for range 60 {
		recs, err := s.Read(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			continue
		}
		got := strings.Replace(string(recs[0].Payload), `"id":2`, `"id":1`, 1)
		if len(recs) != 1 || got != string(want) {
			t.Fatalf("streamed row:\n%s\nwant as polled:\n%s", recs[0].Payload, want)
		}
		return
	}
	t.Fatal("the streamed row did not arrive")
}
