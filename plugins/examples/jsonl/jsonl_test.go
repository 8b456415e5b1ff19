package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
	"github.com/crmhub/crmhub/plugins/sdk/sdktest"
)

func TestAcceptance(t *testing.T) {
	sdktest.AcceptSource(t, Connector, sdk.Config{"path": "testdata/customers.jsonl"}, sdktest.Options{MinRecords: 5, BatchSize: 2})
}

func TestBadLineIsReportedNotDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte("{\"id\":\"1\"}\nnot json\n{\"name\":\"no id\"}\n{\"id\":\"4\"}\n{\"id\":\"5\""), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg, err := Connector.Spec.Validate(sdk.Config{"path": path})
	if err != nil {
		t.Fatal(err)
	}
	src := Connector.NewSource()
	defer src.Teardown(ctx)
	if err := src.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	recs, err := src.Read(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("want 4 records (the unterminated last line waits), got %d", len(recs))
	}
	if recs[1].Error == "" || recs[1].Meta["line"] != "2" || recs[2].Error == "" || recs[2].Meta["line"] != "3" {
		t.Errorf("bad lines must carry an error and their line: %+v %+v", recs[1], recs[2])
	}
	if recs[3].ID != "4" || recs[3].Error != "" {
		t.Errorf("record after bad lines: %+v", recs[3])
	}
}

func TestREADMEHasTheParameterTable(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), Connector.Spec.ParamsMarkdown()) {
		t.Errorf("README.md parameter table is out of date; paste:\n%s", Connector.Spec.ParamsMarkdown())
	}
}
