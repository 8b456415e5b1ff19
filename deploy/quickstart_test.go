package deploy_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmhub/crmhub/deploy"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/internal/app/quickstart"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// TestQuickstartSyncsDemo runs the quickstart configuration's real
// connectors (in-process) and mappings over a generated demo: every
// generated record must come out mapped and schema-valid, except exactly the
// records the generator broke on purpose, which must fail, and the ERP's
// soft-deleted customers, which must become deletes.
func TestQuickstartSyncsDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	demoDir, cfgDir := t.TempDir(), t.TempDir()
	man, err := demo.Generate(ctx, demo.Options{Dir: demoDir, Seed: 3, People: 250})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := demo.NewServer(demoDir)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	if err := os.CopyFS(cfgDir, deploy.Quickstart()); err != nil {
		t.Fatal(err)
	}
	env := deploy.QuickstartEnv(t.TempDir(), demoDir, ts.URL)
	path := filepath.Join(cfgDir, "crmhub.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(path, b, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("quickstart config: %v", err)
	}
	set, err := mapping.LoadDir(cfg.Mappings.Dir)
	if err != nil {
		t.Fatalf("quickstart mappings: %v", err)
	}
	truth, err := demo.LoadTruth(demoDir)
	if err != nil {
		t.Fatal(err)
	}
	entityOf := map[string]string{}
	for _, r := range truth.Records {
		entityOf[r.Key()] = r.PersonID
	}
	mapped, dead, deletes := map[string]int{}, map[string]int{}, map[string]int{}
	var sample map[string]json.RawMessage // one mapped order, to look into
	if err := quickstart.ReadSources(ctx, cfg, func(c config.Connector, r sdk.Record) {
		key := c.System + "/" + r.Entity
		if r.Error != "" {
			dead[key]++
			return
		}
		m, ok := set.Lookup(c.System, r.Entity)
		if !ok {
			t.Fatalf("no mapping for %s", key)
		}
		out, err := m.Apply(mapping.Input{System: c.System, Entity: r.Entity, SourceID: r.ID, UpdatedAt: r.UpdatedAt, Op: string(r.Op), Payload: r.Payload})
		switch {
		case err != nil:
			dead[key]++
			t.Logf("dead letter %s/%s: %v", key, r.ID, err)
		case out.Op == hub.OpDelete:
			deletes[key]++
		case out.Skip:
			t.Errorf("%s/%s skipped", key, r.ID)
		default:
			mapped[key]++
			if out.Entity == hub.EntityCustomer {
				var cust hub.Customer
				if err := json.Unmarshal(out.Data, &cust); err != nil {
					t.Fatal(err)
				}
				wantKind := "person"
				if p := entityOf[demo.Key(c.System, r.Entity, r.ID)]; p != "" && p[0] == 'F' {
					wantKind = "organization"
				}
				if cust.Kind != wantKind {
					t.Errorf("%s/%s: kind %s, the truth says %s", key, r.ID, cust.Kind, wantKind)
				}
			}
			if key == "erp/orders" && sample == nil {
				json.Unmarshal(out.Data, &sample)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	for key, n := range man.Counts {
		want := n - man.ExpectedDeadLetters[key] - man.Deleted[key]
		if mapped[key] != want || dead[key] != man.ExpectedDeadLetters[key] || deletes[key] != man.Deleted[key] {
			t.Errorf("%s: %d mapped, %d dead, %d deleted; want %d, %d, %d", key, mapped[key], dead[key], deletes[key],
				want, man.ExpectedDeadLetters[key], man.Deleted[key])
		}
	}
	t.Logf("mapped %v, dead %v, deletes %v", mapped, dead, deletes)
	if sample == nil || len(sample["lines"]) < 10 || len(sample["total"]) < 10 {
		t.Errorf("a mapped ERP order lacks lines or total: %v", sample)
	}
}
