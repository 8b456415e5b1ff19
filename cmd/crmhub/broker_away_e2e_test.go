package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/hub/testenv"
)

// startBrokerAt runs `crmhub broker` with SCRAM on addr (a fixed port, so
// a restarted broker is where the hub looks for it) and dataDir, and waits
// until it listens.
func startBrokerAt(t *testing.T, addr, dataDir string) *hubProc {
	t.Helper()
	p, got := startBrokerOn(t, addr, dataDir)
	if got != addr {
		t.Fatalf("broker listens on %s, want %s", got, addr)
	}
	return p
}

// writeContacts appends contacts first..first+n-1 (fresh ids and e-mails)
// to the CRM's JSON-lines export.
func writeContacts(t *testing.T, path string, first, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for i := first; i < first+n; i++ {
		given, family, email := "Bruno", fmt.Sprintf("Ausfall%03d", i), fmt.Sprintf("ausfall-%03d@e2e.example.org", i)
		c := demo.Contact{ID: fmt.Sprintf("away-%03d", i), FirstName: &given, LastName: &family, Email: &email,
			Language: "de", UpdatedAt: time.Now().UTC().Truncate(time.Second)}
		if err := enc.Encode(c); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBrokerAwayEndToEnd stops the broker process under a syncing hub
// (deploy/crmhub.yaml, `crmhub run`, PostgreSQL, the broker as its own
// process with SCRAM and a data dir) and starts it again on the same port
// and data dir. While it is away /readyz answers 503 naming kafka and
// crmhub_bus_up is 0; records that arrive at the source meanwhile wait,
// nothing is dead-lettered; once it is back the hub carries on by itself
// (no restart): /readyz 200, every record in the store through the API,
// no dead letters.
func TestBrokerAwayEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	dsn := testenv.Postgres(t)
	dir := t.TempDir()
	pluginDir := filepath.Join(dir, "plugins")
	installJSONLPlugin(t, pluginDir)
	contacts := filepath.Join(dir, "contacts.jsonl")
	writeContacts(t, contacts, 0, 20)
	connectors := []any{map[string]any{"name": "crm", "plugin": "jsonl", "system": "crm", "poll_interval": "500ms",
		"settings": map[string]any{"path": contacts, "entity": "contacts"}}}

	brokerAddr, brokerData := freeAddr(t), filepath.Join(dir, "broker")
	broker := startBrokerAt(t, brokerAddr, brokerData)
	h := &hubProc{api: freeAddr(t)}
	cfg := filepath.Join(dir, "crmhub.yaml")
	deployConfig(t, cfg, filepath.Join(dir, "hub"), h.api, pluginDir, connectors)
	env := append(os.Environ(), "CRMHUB_KAFKA_BROKERS="+brokerAddr, "CRMHUB_POSTGRES_DSN="+dsn,
		"CRMHUB_KAFKA_PASSWORD="+kafkaPassword, "CRMHUB_LOG_LEVEL=info")
	tok := exec.Command(binPath, "tokens", "create", "--config", cfg, "--name", "away-steward", "--scope", "steward")
	tok.Env = env
	var tokOut, tokErr bytes.Buffer
	tok.Stdout, tok.Stderr = &tokOut, &tokErr
	if err := tok.Run(); err != nil {
		t.Fatalf("crmhub tokens create: %v\n%s", err, tokErr.String())
	}
	token := strings.TrimSpace(tokOut.String())
	h.cmd = exec.Command(binPath, "run", "--config", cfg)
	h.cmd.Env = env
	h.start(t)

	type readiness struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	ready := func() (int, readiness) {
		var r readiness
		resp, err := http.Get("http://" + h.api + "/readyz")
		if err != nil {
			return 0, r
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&r)
		return resp.StatusCode, r
	}
	waitFor(t, "hub ready", time.Minute, func() bool { code, _ := ready(); return code == http.StatusOK })

	// inStore counts the contacts the API finds by source id; found ones
	// are not asked again.
	found := map[int]bool{}
	inStore := func(n int) int {
		for i := range n {
			if found[i] {
				continue
			}
			var res struct {
				Items []hub.CustomerView `json:"items"`
			}
			q := "/v1/customers?system=crm&source_id=" + url.QueryEscape(fmt.Sprintf("away-%03d", i))
			if code, err := apiGet(h.api, token, q, &res); code == http.StatusOK && err == nil && len(res.Items) == 1 {
				found[i] = true
			}
		}
		return len(found)
	}
	waitFor(t, "the first 20 contacts in the store", time.Minute, func() bool { return inStore(20) == 20 })
	if up := h.metrics(t)["crmhub_bus_up"]; up != 1 {
		t.Errorf("crmhub_bus_up = %v with the broker running", up)
	}

	// The broker goes away hard (a crash, a node lost): no goodbye to the
	// clients.
	if err := broker.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = broker.cmd.Wait()
	writeContacts(t, contacts, 20, 15)
	var r readiness
	waitFor(t, "/readyz 503 naming kafka", time.Minute, func() bool {
		var code int
		code, r = ready()
		return code == http.StatusServiceUnavailable && r.Checks["kafka"] != "" && r.Checks["kafka"] != "ok"
	})
	t.Logf("/readyz with the broker away: %+v", r)
	if !strings.Contains(r.Checks["kafka"], "unreachable") {
		t.Errorf("kafka check %q: want it to say the brokers are unreachable", r.Checks["kafka"])
	}
	waitFor(t, "crmhub_bus_up 0", time.Minute, func() bool { return h.metrics(t)["crmhub_bus_up"] == 0 })
	// The source reads the new contacts and cannot publish them: it must
	// hold them, not dead-letter them.
	waitFor(t, "the source to read the new contacts and hold them (publish blocked)", time.Minute, func() bool {
		m := h.metrics(t)
		return m["crmhub_pipeline_records_read_total"] >= 35 && m["crmhub_pipeline_publish_blocked"] == 1
	})
	m := h.metrics(t)
	if m["crmhub_pipeline_dead_letters_total"] != 0 {
		t.Errorf("%v dead letters while the broker was away", m["crmhub_pipeline_dead_letters_total"])
	}
	if code, _ := ready(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz %d while the broker is still away", code)
	}
	if n := inStore(35); n != 20 {
		t.Errorf("%d contacts in the store while the broker was away, want the first 20", n)
	}

	// Back on the same port and data dir: the hub carries on by itself.
	broker = startBrokerAt(t, brokerAddr, brokerData)
	waitFor(t, "/readyz 200 again", 2*time.Minute, func() bool { code, _ := ready(); return code == http.StatusOK })
	waitFor(t, "all 35 contacts in the store", 2*time.Minute, func() bool { return inStore(35) == 35 })
	m = h.metrics(t)
	if m["crmhub_bus_up"] != 1 {
		t.Errorf("crmhub_bus_up = %v after the broker came back", m["crmhub_bus_up"])
	}
	// Each record written once: what the broker delivers again after its
	// restart the store recognises and skips.
	if m["crmhub_hub_applied_total"] != 35 {
		t.Errorf("crmhub_hub_applied_total = %v, want 35", m["crmhub_hub_applied_total"])
	}
	if m["crmhub_pipeline_dead_letters_total"] != 0 || m["crmhub_hub_applier_paused"] != 0 {
		t.Errorf("after the broker came back: dead letters %v, applier paused %v", m["crmhub_pipeline_dead_letters_total"], m["crmhub_hub_applier_paused"])
	}
	var dls struct {
		Items []hub.DeadLetterEntry `json:"items"`
	}
	if code, err := apiGet(h.api, token, "/v1/deadletters", &dls); code != http.StatusOK || err != nil {
		t.Fatalf("GET /v1/deadletters: %d %v", code, err)
	}
	if len(dls.Items) != 0 {
		t.Errorf("%d dead letters after the broker was away, want none: %+v", len(dls.Items), dls.Items)
	}
	h.stop(t)
	_ = broker.cmd.Process.Signal(syscall.SIGTERM)
	if err := broker.cmd.Wait(); err != nil {
		t.Errorf("broker did not stop cleanly on SIGTERM: %v", err)
	}
}
