package file

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub/plugins/sdk"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newDest(t *testing.T, dir string, c *clock) *Destination {
	t.Helper()
	d := &Destination{now: c.now}
	ctx := context.Background()
	err := d.Configure(ctx, sdk.Config{"dir": dir, "files": []any{
		map[string]any{"entity": "customers", "name": "KUNDEN", "columns": []any{"id", "name", "city", "balance"}, "key": "id", "op_column": "op", "encoding": "windows-1252", "delimiter": ";"},
		map[string]any{"entity": "invoices", "rotate": "run", "columns": []any{"no", "amount"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Open(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

// readCSV decodes a finished export the way the receiving system would.
func readCSV(t *testing.T, path string, dec bool, delim rune) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if dec {
		if b, err = charmap.Windows1252.NewDecoder().Bytes(b); err != nil {
			t.Fatal(err)
		}
	}
	r := csv.NewReader(strings.NewReader(string(b)))
	r.Comma = delim
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func visible(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func TestDestinationExport(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2024, 3, 1, 23, 59, 0, 0, time.Local)}
	d := newDest(t, dir, c)
	ctx := context.Background()
	res, err := d.Write(ctx, []sdk.Record{
		{Entity: "customers", ID: "1", Op: sdk.OpUpsert, Payload: []byte(`{"name": "Müller; \"Söhne\"", "city": "Köln", "balance": 12.50}`)},
		{Entity: "customers", ID: "2", Op: sdk.OpUpsert, Payload: []byte(`{"name": "Bob", "email": "bob@example.com"}`)},
		{Entity: "customers", ID: "3", Op: sdk.OpUpsert, Payload: []byte(`{"name": "Zhang 张", "city": null}`)},
		{Entity: "customers", ID: "4", Op: sdk.OpDelete},
		{Entity: "orders", ID: "5", Op: sdk.OpUpsert, Payload: []byte(`{}`)},
		{Entity: "invoices", ID: "I1", Op: sdk.OpUpsert, Payload: []byte(`{"no": "I1", "amount": "10.00"}`)},
		{Entity: "invoices", ID: "I2", Op: sdk.OpDelete},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantErr := map[int][]string{1: {"record 2", "email"}, 2: {"record 3", "field name", "windows-1252"}, 4: {"orders"}, 6: {"record I2", "op_column"}}
	for i, r := range res {
		want, bad := wantErr[i]
		if bad != (r.Error != "") {
			t.Errorf("record %d: error %q, want one: %v", i, r.Error, bad)
		}
		for _, w := range want {
			if !strings.Contains(r.Error, w) {
				t.Errorf("record %d: error %q does not mention %q", i, r.Error, w)
			}
		}
	}
	if strings.Contains(res[2].Error, "Zhang") {
		t.Errorf("error leaks the value: %s", res[2].Error)
	}
	if got := visible(t, dir); len(got) != 0 {
		t.Fatalf("unfinished exports visible: %v", got)
	}

	// Past midnight the first day's file is finished under its name.
	c.t = c.t.Add(2 * time.Minute)
	if res, err := d.Write(ctx, []sdk.Record{{Entity: "customers", ID: "6", Op: sdk.OpUpsert, Payload: []byte(`{"name": "Eve"}`)}}); err != nil || res[0].Error != "" {
		t.Fatalf("%v %+v", err, res)
	}
	if got := visible(t, dir); !slices.Equal(got, []string{"KUNDEN_2024-03-01.csv"}) {
		t.Fatalf("visible %v", got)
	}
	rows := readCSV(t, filepath.Join(dir, "KUNDEN_2024-03-01.csv"), true, ';')
	want := [][]string{{"id", "name", "city", "balance", "op"}, {"1", `Müller; "Söhne"`, "Köln", "12.50", "upsert"}, {"4", "", "", "", "delete"}}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("day 1 export\n got %q\nwant %q", rows, want)
	}

	// Teardown finishes the per-run file, not today's per-day file.
	if err := d.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	got := visible(t, dir)
	if len(got) != 2 || !strings.HasPrefix(got[1], "invoices_20240301T235900") {
		t.Fatalf("after teardown %v", got)
	}
	if rows := readCSV(t, filepath.Join(dir, got[1]), false, ','); !slices.EqualFunc(rows, [][]string{{"no", "amount"}, {"I1", "10.00"}}, slices.Equal) {
		t.Errorf("invoices export %q", rows)
	}

	// A restart the same day appends to today's file, without a second
	// header; a start on a later day finishes it.
	d2 := newDest(t, dir, c)
	if res, err := d2.Write(ctx, []sdk.Record{{Entity: "customers", ID: "7", Op: sdk.OpUpsert, Payload: []byte(`{"name": "Finn"}`)}}); err != nil || res[0].Error != "" {
		t.Fatalf("%v %+v", err, res)
	}
	d2.Teardown(ctx)
	c.t = c.t.Add(24 * time.Hour)
	d3 := newDest(t, dir, c)
	d3.Teardown(ctx)
	rows = readCSV(t, filepath.Join(dir, "KUNDEN_2024-03-02.csv"), true, ';')
	want = [][]string{{"id", "name", "city", "balance", "op"}, {"6", "Eve", "", "", "upsert"}, {"7", "Finn", "", "", "upsert"}}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("day 2 export\n got %q\nwant %q", rows, want)
	}
}

// TestDestinationWriteFailure: when the file system refuses part of a
// batch, the batch fails as a whole and what was appended of it is cut off
// again, so a retry does not duplicate rows.
func TestDestinationWriteFailure(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2024, 3, 1, 10, 0, 0, 0, time.Local)}
	d := newDest(t, dir, c)
	ctx := context.Background()
	cust := sdk.Record{Entity: "customers", ID: "1", Op: sdk.OpUpsert, Payload: []byte(`{"name": "A"}`)}
	if _, err := d.Write(ctx, []sdk.Record{cust}); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(dir, ".KUNDEN_2024-03-01.csv.part")
	before, err := os.ReadFile(part)
	if err != nil {
		t.Fatal(err)
	}
	// The invoices part file cannot be created: a directory is in the way.
	if err := os.Mkdir(filepath.Join(dir, ".invoices_20240301T100000.csv.part"), 0o755); err != nil {
		t.Fatal(err)
	}
	inv := sdk.Record{Entity: "invoices", ID: "I1", Op: sdk.OpUpsert, Payload: []byte(`{"no": "I1"}`)}
	if res, err := d.Write(ctx, []sdk.Record{cust, inv}); err == nil || !strings.Contains(err.Error(), "invoices") {
		t.Fatalf("want a batch error naming the file, got %v %+v", err, res)
	}
	after, _ := os.ReadFile(part)
	if string(after) != string(before) {
		t.Errorf("failed batch left rows behind:\n%q\nwant\n%q", after, before)
	}
	// The next batch appends where the file ended.
	if _, err := d.Write(ctx, []sdk.Record{cust}); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(part); strings.Count(string(after), "1;A;;;upsert") != 2 {
		t.Errorf("after retry %q", after)
	}
}

func TestDestinationConfig(t *testing.T) {
	err := Connector.NewDestination().Configure(context.Background(), sdk.Config{"dir": "/tmp/x", "done_marker": true, "files": []any{
		map[string]any{"entity": "c", "format": "fixed", "rotate": "hour", "delimiter": `"`, "key": "id", "columns": []any{"name"}, "name": "../evil"},
	}})
	for _, w := range []string{"done_marker", "fixed", "hour", "delimiter", "key", "../evil"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("config error %v does not mention %q", err, w)
		}
	}
	err = Connector.NewDestination().Configure(context.Background(), sdk.Config{"dir": "/tmp/x", "files": []any{map[string]any{"entity": "c", "pattern": "*.csv", "columns": []any{"a"}}}})
	if err == nil || !strings.Contains(err.Error(), "pattern") {
		t.Errorf("source setting in a destination: %v", err)
	}
}

func TestDestinationExampleConfig(t *testing.T) {
	b, err := os.ReadFile("testdata/destination.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Connectors []struct {
			Settings map[string]any `yaml:"settings"`
		} `yaml:"connectors"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if err := Connector.NewDestination().Configure(context.Background(), doc.Connectors[0].Settings); err != nil {
		t.Fatal(err)
	}
}
