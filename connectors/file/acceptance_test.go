package file

import (
	"os"
	"path/filepath"
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
		map[string]any{"entity": "customers", "columns": []any{"id", "name"}, "key": "id", "rotate": "run"},
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
			var all strings.Builder
			files, _ := filepath.Glob(filepath.Join(cfg["dir"].(string), "*"))
			for _, f := range files {
				if b, err := os.ReadFile(f); err == nil {
					all.Write(b)
				}
			}
			if !strings.Contains(all.String(), "Anna") || !strings.Contains(all.String(), "Ben") {
				t.Errorf("the written files hold %q, want both records", all.String())
			}
		},
	})
}
