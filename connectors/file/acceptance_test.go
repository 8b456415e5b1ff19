package file

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
	"github.com/crmhub/crmhub/plugins/sdk/sdktest"
)

// The file connector runs the acceptance suites every connector runs
// (plugins/sdk/sdktest), as a source over a CSV file and as a
// destination writing one.
func TestAcceptanceSource(t *testing.T) {
	cfg := sdk.Config{"stable_for": "0s", "files": []any{
		map[string]any{"pattern": "customers_*.csv", "entity": "customers", "format": "csv", "key": "id"},
	}}
	sdktest.AcceptSource(t, Connector, cfg, sdktest.Options{
		MinRecords: 7, BatchSize: 2, Consumes: true, // a finished file is archived once acked
		Prepare: func(t *testing.T, cfg sdk.Config) sdk.Config {
			dir := t.TempDir()
			// One file: a position names a place in a file, and a file the
			// source archived does not come back, so each read of the
			// suite starts on the same file as it was.
			body := "id,name\n1,Anna\n2,Ben\n3,Cem\n4,Dora\n5,Emil\n6,Frida\n7,Gül\n"
			if err := os.WriteFile(filepath.Join(dir, "customers_1.csv"), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			out := sdk.Config{"dir": dir}
			for k, v := range cfg {
				out[k] = v
			}
			return out
		},
	})
}

func TestAcceptanceDestination(t *testing.T) {
	cfg := sdk.Config{"files": []any{
		map[string]any{"entity": "customers", "columns": []any{"id", "name"}, "key": "id", "rotate": "run", "op_column": "op"},
	}}
	sdktest.AcceptDestination(t, Connector, cfg, sdktest.DestinationOptions{
		Records: []sdk.Record{
			{Entity: "customers", ID: "1", Op: sdk.OpUpsert, Payload: []byte(`{"name":"Anna"}`)},
			{Entity: "customers", ID: "2", Op: sdk.OpUpsert, Payload: []byte(`{"name":"Ben"}`)},
		},
		Prepare: func(t *testing.T, cfg sdk.Config) sdk.Config {
			out := sdk.Config{"dir": t.TempDir()}
			for k, v := range cfg {
				out[k] = v
			}
			return out
		},
		Check: func(t *testing.T, cfg sdk.Config, _ []sdk.WriteResult) {
			all := exported(t, cfg)
			if !strings.Contains(all, "Anna") || !strings.Contains(all, "Ben") {
				t.Errorf("the written files hold %q, want both records", all)
			}
		},
		// An export is a change log: its reader keeps the last line per
		// key and drops keys whose last line is a delete.
		Target: func(t *testing.T, cfg sdk.Config) map[string]map[string]string {
			out := map[string]map[string]string{}
			for _, f := range exportFiles(t, cfg) {
				rows, err := csv.NewReader(strings.NewReader(f)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				for _, row := range rows[1:] { // after the header id,name,op
					if row[2] == string(sdk.OpDelete) {
						delete(out, row[0])
					} else {
						out[row[0]] = map[string]string{"name": row[1]}
					}
				}
			}
			return out
		},
		Update: func(r sdk.Record) sdk.Record {
			r.Payload = []byte(strings.Replace(string(r.Payload), `"}`, ` (renamed)"}`, 1))
			return r
		},
		Deletes: true,
		Bad: []sdk.Record{
			{Entity: "customers", ID: "8", Op: sdk.OpUpsert, Payload: []byte(`{"name":"Eve","password":"x"}`)}, // outside columns
			{Entity: "customers", ID: "9", Op: sdk.OpUpsert, Payload: []byte(`[1]`)},
			{Entity: "suppliers", ID: "1", Op: sdk.OpUpsert, Payload: []byte(`{"name":"Acme"}`)}, // not exported
		},
	})
}

// exportFiles are the contents of the files a destination wrote into
// cfg's dir, oldest first.
func exportFiles(t *testing.T, cfg sdk.Config) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(cfg["dir"].(string), "*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(files, func(i, j int) bool {
		a, _ := os.Stat(files[i])
		b, _ := os.Stat(files[j])
		return a.ModTime().Before(b.ModTime())
	})
	var out []string
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

func exported(t *testing.T, cfg sdk.Config) string { return strings.Join(exportFiles(t, cfg), "") }
