package file

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub/connectors/internal/readme"
	"github.com/crmhub/crmhub/plugins/sdk"
)

func TestREADME(t *testing.T) { readme.Check(t, Connector.Spec, "README.md") }

func newSource(t *testing.T, dir string, pos sdk.Position, extra map[string]any, files ...map[string]any) *Source {
	t.Helper()
	list := make([]any, len(files))
	for i, f := range files {
		list[i] = f
	}
	cfg := sdk.Config{"dir": dir, "stable_for": "0s", "files": list}
	for k, v := range extra {
		cfg[k] = v
	}
	s := Connector.NewSource().(*Source)
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

func drain(t *testing.T, s *Source, max int) []sdk.Record {
	t.Helper()
	var out []sdk.Record
	for {
		recs, err := s.Read(context.Background(), max)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func field(t *testing.T, r sdk.Record, name string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Payload, &m); err != nil {
		t.Fatalf("payload %s: %v", r.Payload, err)
	}
	return m[name]
}

func TestEncodings(t *testing.T) {
	cases := []struct {
		encoding string
		enc      encoding.Encoding
		name     string
		bom      bool
	}{
		{"utf-8", nil, "Jürgen Müller 北京", false},
		{"utf-8", nil, "Jürgen Müller", true},
		{"windows-1252", charmap.Windows1252, "Café “Zoë” – 5 €", false},
		{"iso-8859-1", charmap.ISO8859_1, "Müller Straße ½", false},
		{"gb18030", simplifiedchinese.GB18030, "北京市朝阳区 张伟", false},
		{"shift-jis", japanese.ShiftJIS, "東京都 山田太郎 ｶﾀｶﾅ", false},
	}
	for _, tc := range cases {
		t.Run(tc.encoding, func(t *testing.T) {
			dir := t.TempDir()
			text := "id;name;amount\n1;\"" + tc.name + "\";1.234,50\n2;x;0,00\n"
			b := []byte(text)
			if tc.enc != nil {
				var err error
				if b, err = tc.enc.NewEncoder().Bytes(b); err != nil {
					t.Fatal(err)
				}
				if string(b) == text {
					t.Fatal("encoding produced UTF-8; the test would prove nothing")
				}
			}
			if tc.bom {
				b = append([]byte("\xEF\xBB\xBF"), b...)
			}
			write(t, filepath.Join(dir, "export.csv"), b)
			s := newSource(t, dir, nil, nil, map[string]any{"pattern": "*.csv", "entity": "debtors", "format": "csv", "encoding": tc.encoding, "delimiter": ";", "key": "id"})
			recs := drain(t, s, 10)
			if len(recs) != 2 || recs[0].Error != "" {
				t.Fatalf("records %+v", recs)
			}
			if got := field(t, recs[0], "name"); got != tc.name {
				t.Errorf("name %q, want %q", got, tc.name)
			}
			if got := field(t, recs[0], "amount"); got != "1.234,50" {
				t.Errorf("amount %q", got)
			}
			if _, ok := func() (any, bool) {
				var m map[string]any
				json.Unmarshal(recs[0].Payload, &m)
				v, ok := m["id"]
				return v, ok
			}(); !ok {
				t.Errorf("BOM leaked into the first column name: %s", recs[0].Payload)
			}
		})
	}
}

func TestCSVDialectAndBadLines(t *testing.T) {
	dir := t.TempDir()
	content := "# exported by FIBU 3.1\n" +
		"1|Alpha|01.02.2024 10:00:00\n" +
		"2|\"multi\nline | quoted \"\"x\"\"\"|01.02.2024 11:00:00\n" +
		"3|too|many|fields\n" +
		"4|Bad \xff bytes|01.02.2024 12:00:00\n" +
		"\n" +
		"5|Epsilon|2024-02-01\n" +
		"6|Zeta|01.02.2024 13:00:00\n"
	write(t, filepath.Join(dir, "in", "a.txt"), []byte(content))
	s := newSource(t, dir, nil, nil, map[string]any{"pattern": "in/*.txt", "entity": "payments", "format": "csv", "delimiter": "|", "comment": "#",
		"columns": []any{"no", "text", "changed"}, "key": "no", "updated_at": "changed", "updated_at_format": "02.01.2006 15:04:05"})
	recs := drain(t, s, 100)
	var got []string
	for _, r := range recs {
		if r.Error != "" {
			got = append(got, "ERR@"+r.Meta["line"])
			continue
		}
		got = append(got, r.ID)
	}
	if want := []string{"1", "2", "ERR@5", "ERR@6", "ERR@8", "6"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if v := field(t, recs[1], "text"); v != "multi\nline | quoted \"x\"" {
		t.Errorf("multi-line field %q", v)
	}
	if !recs[0].UpdatedAt.Equal(time.Date(2024, 2, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("updated_at %v", recs[0].UpdatedAt)
	}
	bad := recs[3]
	raw, _ := base64.StdEncoding.DecodeString(field(t, bad, "raw").(string))
	if string(raw) != "4|Bad \xff bytes|01.02.2024 12:00:00" || bad.Meta["file"] != filepath.Join("in", "a.txt") || !strings.Contains(bad.Error, "line 6") {
		t.Errorf("bad record %+v raw %q", bad, raw)
	}
	if !strings.Contains(recs[2].Error, "4 fields, want 3") {
		t.Errorf("column count error %q", recs[2].Error)
	}
}

func TestFixedAndJSONLines(t *testing.T) {
	dir := t.TempDir()
	fixed := "0000123MUELLER GMBH         DE0012345,67\n" +
		"0000124SCHMIDT AG           AT\n" +
		"short\n"
	b, _ := charmap.ISO8859_1.NewEncoder().Bytes([]byte(strings.Replace(fixed, "MUELLER", "MÜLLER ", 1)))
	write(t, filepath.Join(dir, "KUNDEN.DAT"), b)
	write(t, filepath.Join(dir, "tickets.jsonl"), []byte(`{"id": 7, "subject": "Drucker", "updated": "2024-05-01T10:00:00Z"}`+"\n[1,2]\n"+`{"id": "x8", "subject": null}`+"\n"))
	s := newSource(t, dir, nil, nil,
		map[string]any{"pattern": "*.DAT", "entity": "customers", "format": "fixed", "encoding": "iso-8859-1", "key": "kdnr",
			"layout": []any{map[string]any{"name": "kdnr", "start": 1, "length": 7}, map[string]any{"name": "name", "start": 8, "length": 21},
				map[string]any{"name": "country", "start": 29, "length": 2}, map[string]any{"name": "credit", "start": 31, "length": 10}}},
		map[string]any{"pattern": "*.jsonl", "entity": "tickets", "format": "jsonl", "key": "id", "updated_at": "updated"})
	recs := drain(t, s, 100)
	if len(recs) != 6 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	if recs[0].ID != "0000123" || field(t, recs[0], "name") != "MÜLLER  GMBH" || field(t, recs[0], "credit") != "0012345,67" {
		t.Errorf("fixed record %s", recs[0].Payload)
	}
	if field(t, recs[1], "credit") != "" || recs[1].Error != "" {
		t.Errorf("trailing blank field: %+v", recs[1])
	}
	if recs[2].Error == "" {
		t.Errorf("short line not flagged: %+v", recs[2])
	}
	if recs[3].ID != "7" || recs[3].UpdatedAt.IsZero() || recs[4].Error == "" || recs[5].ID != "x8" || field(t, recs[5], "subject") != nil {
		t.Errorf("jsonl records %+v", recs[3:])
	}
}

func TestResumeArchiveQuarantine(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := 1; i <= 10; i++ {
		b.WriteString(string(rune('0'+i%10)) + strings.Repeat("x", i) + ",n\n")
	}
	write(t, filepath.Join(dir, "a.csv"), []byte(b.String()))
	write(t, filepath.Join(dir, "b.csv"), []byte("name,other\nx,y\n")) // no key column
	spec := map[string]any{"pattern": "*.csv", "entity": "e", "format": "csv", "key": "id"}
	s := newSource(t, dir, nil, nil, spec)
	first, err := s.Read(context.Background(), 4)
	if err != nil || len(first) != 4 {
		t.Fatalf("read %d, %v", len(first), err)
	}
	s.Teardown(context.Background())

	// Restart from the ack of the 4th record: the 6 others, once.
	s = newSource(t, dir, first[3].Position, nil, spec)
	rest := drain(t, s, 100)
	if len(rest) != 6 || rest[0].ID != first[3].ID[:0]+"5xxxxx" {
		t.Fatalf("resumed %d records, first %q", len(rest), rest[0].ID)
	}
	// b.csv is unreadable: quarantined with a reason, right away.
	reason, err := os.ReadFile(filepath.Join(dir, "quarantine", "b.csv.reason.txt"))
	if err != nil || !strings.Contains(string(reason), `key column "id"`) {
		t.Errorf("reason %q, %v", reason, err)
	}
	// a.csv stays until its last line is acknowledged.
	if err := s.Ack(context.Background(), rest[4].Position); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.csv")); err != nil {
		t.Fatalf("a.csv archived before its last line was acked: %v", err)
	}
	if err := s.Ack(context.Background(), rest[5].Position); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "archive", "a.csv")); err != nil {
		t.Fatalf("a.csv not archived: %v", err)
	}
	if recs := drain(t, s, 10); len(recs) != 0 {
		t.Fatalf("read again after archive: %d", len(recs))
	}
}

func TestReadyWhenComplete(t *testing.T) {
	t.Run("done marker", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "x.csv"), []byte("id\n1\n"))
		s := newSource(t, dir, nil, map[string]any{"done_marker": true}, map[string]any{"pattern": "*.csv", "entity": "e", "format": "csv", "key": "id"})
		if recs := drain(t, s, 10); len(recs) != 0 {
			t.Fatal("read before the .done marker")
		}
		write(t, filepath.Join(dir, "x.csv.done"), nil)
		recs := drain(t, s, 10)
		if len(recs) != 1 {
			t.Fatalf("after marker: %d records", len(recs))
		}
		s.Ack(context.Background(), recs[0].Position)
		if _, err := os.Stat(filepath.Join(dir, "archive", "x.csv.done")); err != nil {
			t.Errorf("marker not archived: %v", err)
		}
	})
	t.Run("stable", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "x.csv")
		write(t, path, []byte("id\n1\n"))
		s := newSource(t, dir, nil, map[string]any{"stable_for": "1h"}, map[string]any{"pattern": "*.csv", "entity": "e", "format": "csv", "key": "id"})
		if recs := drain(t, s, 10); len(recs) != 0 {
			t.Fatal("read a file still being written")
		}
		old := time.Now().Add(-2 * time.Hour)
		os.Chtimes(path, old, old)
		if recs := drain(t, s, 10); len(recs) != 1 {
			t.Fatalf("stable file: %d records", len(recs))
		}
	})
}

func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("testdata/example.yaml")
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
	if err := Connector.NewSource().Configure(context.Background(), doc.Connectors[0].Settings); err != nil {
		t.Fatal(err)
	}
}

// A quote that never closes costs its own line only: the opening line is a
// bad record and the lines after it are read on their own (before, they
// were swallowed into one dead letter up to 1,000 lines or the end of the
// file). A quote that closes only into the wrong number of fields is the
// same case.
func TestUnclosedQuoteCostsOneLine(t *testing.T) {
	dir := t.TempDir()
	content := "id;name;city\n" +
		"1;\"Anna;Berlin\n" +
		"2;Bernd;Hamburg\n" +
		"3;\"Clara;Köln\n" +
		"4;Dora;Bonn\"\n" +
		"5;Emil;Essen\n" +
		"6;\"Multi\nline\";Ulm\n"
	write(t, filepath.Join(dir, "in", "a.csv"), []byte(content))
	s := newSource(t, dir, nil, nil, map[string]any{"pattern": "in/*.csv", "entity": "customers", "format": "csv", "delimiter": ";",
		"header": true, "key": "id"})
	var got []string
	for _, r := range drain(t, s, 100) {
		if r.Error != "" {
			got = append(got, "ERR@"+r.Meta["line"])
			continue
		}
		got = append(got, r.ID)
	}
	if want := []string{"ERR@2", "2", "ERR@4", "4", "5", "6"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// A watched directory that disappears is a read error naming it (the
// runner retries and the status page shows it), not an empty folder that
// looks caught up; once it is back, the source reads again.
func TestSourceDirectoryGoneIsAnError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "export")
	write(t, filepath.Join(dir, "a.csv"), []byte("id,name\n1,Anna\n"))
	s := newSource(t, dir, nil, nil, map[string]any{"pattern": "*.csv", "entity": "debtors", "format": "csv", "key": "id"})
	if got := drain(t, s, 10); len(got) != 1 {
		t.Fatalf("read %d records, want 1", len(got))
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Read(context.Background(), 10)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Read of a removed directory: %d records, err %v; want an error naming %s", len(recs), err, dir)
	}
	write(t, filepath.Join(dir, "b.csv"), []byte("id,name\n2,Bernd\n"))
	if got := drain(t, s, 10); len(got) != 1 || got[0].ID != "2" {
		t.Fatalf("after the directory came back: %v", got)
	}
}
