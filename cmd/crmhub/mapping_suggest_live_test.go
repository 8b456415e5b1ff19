package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sqlconn "github.com/crmhub/crmhub/connectors/sql"
	"github.com/crmhub/crmhub/hub/testenv"
)

// legacyParties is a classic sales table: phone and fax side by side, a
// country column in names and codes, numbers in national formats, among
// them Venezuelan ones that no German reading makes right.
var legacyParties = []string{
	`CREATE TABLE parties (id INTEGER PRIMARY KEY, company VARCHAR(50), phone VARCHAR(30), fax VARCHAR(30), country VARCHAR(30), email VARCHAR(80))`,
	`INSERT INTO parties VALUES (1, 'Acme GmbH', '030 1234567', '030 1234568', 'DE', 'info@acme.example')`,
	`INSERT INTO parties VALUES (2, 'Bolt AG', '089 123456', '089 123457', 'Germany', 'office@bolt.example')`,
	`INSERT INTO parties VALUES (3, 'Caracas SA', '(2) 283-2951', '(2) 283-2952', 'Venezuela', 'ventas@caracas.example')`,
	`INSERT INTO parties VALUES (4, 'Dora KG', '0171 2345678', '0221 998877', 'DE', 'dora@dora.example')`,
	`INSERT INTO parties VALUES (5, 'Evo CA', '0212 283 2951', '0212 283 2952', 'Venezuela', 'evo@evo.example')`,
	`INSERT INTO parties VALUES (6, 'Fink OHG', '0221 998876', '0221 998875', 'DE', 'fink@fink.example')`,
}

// suggestLive: `mapping suggest --table` reads the live table through the
// sql connector's sample reader and proposes the phone column read in each
// row's country, never the fax, and never a fallback region; the proposal
// maps the table's own records.
func suggestLive(t *testing.T, driver, dsn string) {
	db, err := sql.Open(map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[driver], dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range legacyParties {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	dir := t.TempDir()
	y := filepath.Join(dir, "parties.yaml")
	_, stderr, err := runCLI(t, "mapping", "suggest", "--driver", driver, "--dsn", dsn, "--table", "parties", "--system", "legacy", "-o", y)
	if err != nil {
		t.Fatalf("suggest: %v\n%s", err, stderr)
	}
	b, err := os.ReadFile(y)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	t.Logf("\n%s", got)
	for _, want := range []string{"from table parties (6 records)", `phones[]: 'phone(phone, country(country))'`,
		`emails[]: 'email(email)'`, "mapping: legacy_parties"} {
		if !strings.Contains(got, want) {
			t.Errorf("suggestion lacks %q", want)
		}
	}
	for _, line := range strings.Split(got, "\n") {
		if strings.Contains(line, "(fax") || strings.Contains(line, "coalesce(country(") || strings.Contains(line, `phone(phone, "`) {
			t.Errorf("fax proposed or a region guessed: %s", line)
		}
	}

	// The proposal maps the records the source hands out.
	recs, err := sqlconn.SampleTable(context.Background(), driver, dsn, "parties", 100)
	if err != nil {
		t.Fatal(err)
	}
	var jl strings.Builder
	for _, r := range recs {
		jl.Write(r.Payload)
		jl.WriteByte('\n')
	}
	in := filepath.Join(dir, "parties.jsonl")
	if err := os.WriteFile(in, []byte(jl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCLI(t, "mapping", "test", y, "--input", in)
	if err != nil {
		t.Fatalf("mapping test of the suggestion: %v\n%s\n%s", err, out, stderr)
	}
	if strings.Contains(out, "+4922832951") || strings.Contains(out, "+492832951") {
		t.Errorf("a Venezuelan number read as German:\n%s", out)
	}

	// A table that is not there is named.
	if _, _, err := runCLI(t, "mapping", "suggest", "--driver", driver, "--dsn", dsn, "--table", "nope"); err == nil || !strings.Contains(err.Error(), `no table "nope"`) {
		t.Errorf("missing table: %v", err)
	}
}

func TestMappingSuggestLiveSQLite(t *testing.T) {
	suggestLive(t, "sqlite", "file:"+filepath.Join(t.TempDir(), "legacy.db"))
}

func TestMappingSuggestLivePostgresIntegration(t *testing.T) {
	suggestLive(t, "postgres", testenv.Postgres(t))
}
