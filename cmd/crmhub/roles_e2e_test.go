package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/testenv"
)

// TestRolesEndToEnd runs the three tiers as three processes of the real
// binary from one documented config (deploy/crmhub.yaml), on one broker
// (`crmhub broker`, SCRAM) and one PostgreSQL: `--role connectors` reads
// the sources, `--role apply` applies, `--role api` serves the API. Every
// generated record ends in the store or as a dead letter; each process
// does only its part.
func TestRolesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	dsn := testenv.Postgres(t)
	f := newDeployFixture(t, 9, 40)
	dir, man, pluginDir, connectors := f.dir, f.man, f.pluginDir, f.connectors
	env := f.env(dsn, "info")

	procs := map[string]*hubProc{}
	var token string
	for _, role := range []string{"api", "apply", "connectors"} {
		p := &hubProc{api: freeAddr(t)}
		cfg := filepath.Join(dir, role+".yaml")
		// The same config everywhere but the data dir and the listener.
		deployConfig(t, cfg, filepath.Join(dir, "hub-"+role), p.api, pluginDir, connectors)
		if role == "api" {
			tok := exec.Command(binPath, "tokens", "create", "--config", cfg, "--name", "roles-steward", "--scope", "steward")
			tok.Env = env
			var out, errb bytes.Buffer
			tok.Stdout, tok.Stderr = &out, &errb
			if err := tok.Run(); err != nil {
				t.Fatalf("crmhub tokens create: %v\n%s", err, errb.String())
			}
			token = strings.TrimSpace(out.String())
		}
		p.cmd = exec.Command(binPath, "run", "--config", cfg, "--role", role)
		p.cmd.Env = env
		p.start(t)
		procs[role] = p
		waitFor(t, role+" instance ready", time.Minute, func() bool {
			code, _ := apiGet(p.api, "", "/readyz", nil)
			return code == http.StatusOK
		})
	}

	st, err := store.Open(context.Background(), "postgres", dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	total := man.Total()
	waitFor(t, "every record in the store or dead-lettered", 2*time.Minute, func() bool {
		held, err := st.CountBySource(context.Background())
		if err != nil {
			return false
		}
		n := procs["connectors"].metrics(t)["crmhub_pipeline_dead_letters_total"]
		for _, c := range held {
			n += float64(c)
		}
		return n >= float64(total)
	})

	m := map[string]map[string]float64{}
	for role, p := range procs {
		m[role] = p.metrics(t)
	}
	t.Logf("published: connectors %v apply %v api %v; consumed: connectors %v apply %v api %v",
		m["connectors"]["crmhub_pipeline_records_published_total"], m["apply"]["crmhub_pipeline_records_published_total"], m["api"]["crmhub_pipeline_records_published_total"],
		m["connectors"]["crmhub_hub_consumed_total"], m["apply"]["crmhub_hub_consumed_total"], m["api"]["crmhub_hub_consumed_total"])
	if m["connectors"]["crmhub_pipeline_records_published_total"] == 0 || m["apply"]["crmhub_pipeline_records_published_total"] != 0 || m["api"]["crmhub_pipeline_records_published_total"] != 0 {
		t.Error("only the connectors instance may read sources")
	}
	if m["apply"]["crmhub_hub_consumed_total"] == 0 || m["connectors"]["crmhub_hub_consumed_total"] != 0 || m["api"]["crmhub_hub_consumed_total"] != 0 {
		t.Error("only the apply instance may apply")
	}
	// The API on the api instance; the others answer the probes and say
	// where the API is.
	q := "/v1/customers?email=" + url.QueryEscape(man.SampleEmails[0])
	var found struct {
		Items []hub.CustomerView `json:"items"`
	}
	if code, err := apiGet(procs["api"].api, token, q, &found); code != http.StatusOK || err != nil || len(found.Items) != 1 {
		t.Errorf("api instance, customer by e-mail: %d %v %+v", code, err, found.Items)
	}
	for _, role := range []string{"apply", "connectors"} {
		resp, err := http.Get("http://" + procs[role].api + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "role api") {
			t.Errorf("%s instance, customer by e-mail: %d %s, want 404 naming the api role", role, resp.StatusCode, body)
		}
	}
	for _, p := range procs {
		p.stop(t)
	}
}
