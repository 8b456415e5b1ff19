package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/scram"
	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/testenv"
)

const kafkaPassword = "e2e-scram-secret"

// deployConfig writes deploy/crmhub.yaml, the file docker-compose mounts,
// with only what a site changes: paths and listen address, the connectors
// (the documented file has none) and the plugin dir. Everything else (store
// driver, SASL, topics, consumer group, ${VARS}) is the documented file's, so
// a broken documented config fails this test.
func deployConfig(t *testing.T, path, dataDir, listen, pluginDir string, connectors any, group ...string) {
	t.Helper()
	b, err := os.ReadFile("../../deploy/crmhub.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, key := range []string{"data_dir", "http", "kafka", "store", "mappings", "plugins", "hub", "connectors"} {
		if _, ok := cfg[key]; !ok {
			t.Fatalf("deploy/crmhub.yaml has no %s: the test would not run the documented shape", key)
		}
	}
	cfg["data_dir"] = dataDir
	cfg["http"].(map[string]any)["listen"] = listen
	cfg["mappings"].(map[string]any)["dir"] = abs("../../deploy/quickstart/mappings")
	cfg["plugins"].(map[string]any)["dir"] = pluginDir
	cfg["connectors"] = connectors
	if len(group) > 0 {
		cfg["hub"].(map[string]any)["consumer_group"] = group[0]
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// installJSONLPlugin builds the example third-party connector into
// pluginDir/jsonl with its manifest, the way plugins/examples/jsonl's
// README installs it.
func installJSONLPlugin(t *testing.T, pluginDir string) {
	t.Helper()
	dir := filepath.Join(pluginDir, "jsonl")
	bin := filepath.Join(dir, "jsonl")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "../../plugins/examples/jsonl"
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the jsonl plugin: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	manifest := fmt.Sprintf("name: jsonl\nversion: 0.1.0\nprotocol_version: 1\nsha256: %s\nbinary: jsonl\n", hex.EncodeToString(sum[:]))
	if err := os.WriteFile(filepath.Join(dir, "manifest.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
}

// contactsAsJSONL writes the simulated CRM's contacts as a JSON-lines export,
// so the CRM comes in through the external plugin.
func contactsAsJSONL(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "crm", "contacts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var contacts []json.RawMessage
	if err := json.Unmarshal(b, &contacts); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, c := range contacts {
		var compact bytes.Buffer
		if err := json.Compact(&compact, c); err != nil {
			t.Fatal(err)
		}
		buf.Write(compact.Bytes())
		buf.WriteByte('\n')
	}
	path := filepath.Join(dir, "crm", "contacts.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// quickstartConnectors takes the demo's connector instances from the
// quickstart config, with the CRM read by the jsonl plugin instead.
func quickstartConnectors(t *testing.T, contactsPath string) []any {
	t.Helper()
	b, err := os.ReadFile("../../deploy/quickstart/crmhub.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var qs struct {
		Connectors []map[string]any `yaml:"connectors"`
	}
	if err := yaml.Unmarshal(b, &qs); err != nil {
		t.Fatal(err)
	}
	var out []any
	for _, c := range qs.Connectors {
		if c["name"] == "crm" {
			c = map[string]any{"name": "crm", "plugin": "jsonl", "system": "crm", "poll_interval": "1s",
				"settings": map[string]any{"path": contactsPath, "entity": "contacts"}}
		}
		out = append(out, c)
	}
	if len(out) != 4 {
		t.Fatalf("quickstart connectors: %d, want erp, finance, crm, servicedesk", len(out))
	}
	return out
}

// startBroker runs `crmhub broker` with SCRAM on a free port and returns
// its address.
func startBroker(t *testing.T, dataDir string) (*hubProc, string) {
	t.Helper()
	return startBrokerOn(t, "127.0.0.1:0", dataDir)
}

// startBrokerOn runs `crmhub broker` with SCRAM on listen and dataDir, and
// returns once it prints the address it listens on.
func startBrokerOn(t *testing.T, listen, dataDir string) (*hubProc, string) {
	t.Helper()
	p := &hubProc{}
	p.cmd = exec.Command(binPath, "broker", "--listen", listen, "--data-dir", dataDir,
		"--sasl-user", "crmhub", "--sasl-mechanism", "SCRAM-SHA-512")
	p.cmd.Env = append(os.Environ(), "CRMHUB_KAFKA_PASSWORD="+kafkaPassword)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("broker on %s printed no address: %v", listen, err)
	}
	go io.Copy(io.Discard, stdout)
	return p, strings.TrimSpace(line)
}

func apiGet(api, token, path string, v any) (int, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+api+path, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		err = json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode, err
}

func scramMechanism(t *testing.T) sasl.Mechanism {
	t.Helper()
	mech, err := scram.Mechanism(scram.SHA512, "crmhub", kafkaPassword)
	if err != nil {
		t.Fatal(err)
	}
	return mech
}

// groupMembersWithPartitions counts the members of group that hold at
// least one partition.
func groupMembersWithPartitions(t *testing.T, broker, group string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(broker), Transport: &kafka.Transport{SASL: scramMechanism(t)}}
	resp, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(resp.Groups) != 1 || resp.Groups[0].Error != nil {
		return 0
	}
	n := 0
	for _, m := range resp.Groups[0].Members {
		parts := 0
		for _, tp := range m.MemberAssignments.Topics {
			parts += len(tp.Partitions)
		}
		if parts > 0 {
			n++
		}
	}
	return n
}

// appendContacts appends n new contacts (fresh ids and e-mails) to the
// CRM's JSON-lines export and returns n.
func appendContacts(t *testing.T, path string, n int) int {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for i := range n {
		first, last, email := "Erika", fmt.Sprintf("Nachtrag%03d", i), fmt.Sprintf("nachtrag-%03d@e2e.example.org", i)
		c := demo.Contact{ID: fmt.Sprintf("e2e-%03d", i), FirstName: &first, LastName: &last, Email: &email,
			Language: "de", UpdatedAt: time.Now().UTC().Truncate(time.Second)}
		if err := enc.Encode(c); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// readDeadLettersSASL reads the whole dead-letter topic, authenticating
// with SCRAM the way the hubs do.
func readDeadLettersSASL(t *testing.T, broker string) []hub.DeadLetter {
	t.Helper()
	return readDeadLettersWith(t, &kafka.Dialer{Timeout: 10 * time.Second, SASLMechanism: scramMechanism(t)}, broker, 30*time.Second)
}

// TestDeployEndToEnd runs the real binary the way deploy/ runs it: the
// documented deploy/crmhub.yaml, a PostgreSQL store, the broker as its own
// process (`crmhub broker`, SASL/SCRAM) reached over TCP, an external plugin
// from the plugins directory with its manifest, tokens on, and two hub
// instances in one consumer group (one reads the sources, both apply). Every
// generated source record ends in the store or in the dead-letter topic,
// none twice, and the deterministic identity cases are all right.
func TestDeployEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	dsn := testenv.Postgres(t)
	f := newDeployFixture(t, 5, 60)
	dir, man, pluginDir, connectors, broker, brokerAddr := f.dir, f.man, f.pluginDir, f.connectors, f.broker, f.brokerAddr
	env := f.env(dsn, "info")
	// Instance a reads the sources; b only applies (deploy/README.md,
	// "Scaling out": each connector instance runs in one place).
	a := &hubProc{api: freeAddr(t)}
	b := &hubProc{api: freeAddr(t)}
	cfgA, cfgB := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	deployConfig(t, cfgA, filepath.Join(dir, "hub-a"), a.api, pluginDir, connectors)
	deployConfig(t, cfgB, filepath.Join(dir, "hub-b"), b.api, pluginDir, []any{})

	// Tokens live in the shared store: created before either hub ran.
	tok := exec.Command(binPath, "tokens", "create", "--config", cfgA, "--name", "e2e-steward", "--scope", "steward")
	tok.Env = env
	var tokOut, tokErr bytes.Buffer
	tok.Stdout, tok.Stderr = &tokOut, &tokErr
	if err := tok.Run(); err != nil {
		t.Fatalf("crmhub tokens create: %v\n%s", err, tokErr.String())
	}
	token := strings.TrimSpace(tokOut.String())

	ready := func(p *hubProc) func() bool {
		return func() bool {
			code, _ := apiGet(p.api, "", "/readyz", nil)
			return code == http.StatusOK
		}
	}
	b.cmd = exec.Command(binPath, "run", "--config", cfgB)
	b.cmd.Env = env
	b.start(t)
	waitFor(t, "hub b ready", time.Minute, ready(b))
	a.cmd = exec.Command(binPath, "run", "--config", cfgA)
	a.cmd.Env = env
	a.start(t)
	waitFor(t, "hub a ready", time.Minute, ready(a))

	// The first sync may well be over before the group has rebalanced onto
	// both instances (it takes a heartbeat or two). Once both hold
	// partitions, new contacts arrive at the CRM's export: they are keyed
	// over the partitions, so both instances apply some.
	waitFor(t, "both instances to hold partitions of the consumer group", time.Minute, func() bool {
		return groupMembersWithPartitions(t, brokerAddr, "crmhub-hub") == 2
	})
	added := appendContacts(t, filepath.Join(dir, "crm", "contacts.jsonl"), 120)
	man.Counts["crm/contacts"] += added
	total := man.Total() // with the added contacts
	// Done when the store holds every record that is not a dead letter.
	// (The consumed counters may count a record twice: one redelivered
	// after a rebalance, which the store skips.)
	st, err := store.Open(context.Background(), "postgres", dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitFor(t, "every record in the store or dead-lettered", 2*time.Minute, func() bool {
		held, err := st.CountBySource(context.Background())
		if err != nil {
			return false
		}
		n := a.metrics(t)["crmhub_pipeline_dead_letters_total"]
		for _, c := range held {
			n += float64(c)
		}
		return n >= float64(total)
	})
	ma, mb := a.metrics(t), b.metrics(t)
	t.Logf("hub a consumed %v, hub b consumed %v, dead letters %v, generated %d",
		ma["crmhub_hub_consumed_total"], mb["crmhub_hub_consumed_total"], ma["crmhub_pipeline_dead_letters_total"], total)
	if ma["crmhub_hub_consumed_total"] == 0 || mb["crmhub_hub_consumed_total"] == 0 {
		t.Errorf("one consumer group of two instances: a consumed %v, b %v; want both to apply", ma["crmhub_hub_consumed_total"], mb["crmhub_hub_consumed_total"])
	}
	if mb["crmhub_pipeline_records_published_total"] != 0 {
		t.Errorf("hub b has no connectors but published %v records", mb["crmhub_pipeline_records_published_total"])
	}

	// Auth is on: no token is 401 on both instances, the token works on both.
	for _, p := range []*hubProc{a, b} {
		if code, _ := apiGet(p.api, "", "/v1/customers?email="+url.QueryEscape(man.SampleEmails[0]), nil); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", p.api, code)
		}
		var found struct {
			Items []hub.CustomerView `json:"items"`
		}
		code, err := apiGet(p.api, token, "/v1/customers?email="+url.QueryEscape(man.SampleEmails[0]), &found)
		if code != http.StatusOK || err != nil || len(found.Items) != 1 || len(found.Items[0].Sources) < 2 {
			t.Errorf("%s customer by e-mail with the token: %d %v %+v", p.api, code, err, found.Items)
		}
	}

	// Identity: every deterministic case right, read from instance b.
	tr, err := demo.LoadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	assign := map[string]string{}
	for _, rec := range tr.Records {
		var res struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		q := fmt.Sprintf("/v1/customers?system=%s&source_id=%s", url.QueryEscape(rec.System), url.QueryEscape(rec.SourceID))
		if _, err := apiGet(b.api, token, q, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Items) == 1 {
			assign[rec.Key()] = res.Items[0].ID
		}
	}
	det := tr.Deterministic().Score(assign)
	if det.Precision != 1 || det.Recall != 1 {
		t.Errorf("deterministic cases: precision %v recall %v, want 1 and 1", det.Precision, det.Recall)
	}

	a.stop(t)
	b.stop(t)

	// Every generated record: in the store or a dead letter, none twice.
	dls := readDeadLettersSASL(t, brokerAddr)
	deadBySource := map[string]int{}
	for _, d := range dls {
		if d.Reason == "" || d.ReasonClass == "" {
			t.Errorf("dead letter without a reason: %+v", d)
		}
		deadBySource[d.System+"/"+d.SourceEntity]++
	}
	if len(dls) < man.TotalDeadLetters() {
		t.Errorf("dead letters %d, the generator broke %d records on purpose", len(dls), man.TotalDeadLetters())
	}
	held, err := st.CountBySource(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	counts, err := st.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for src, n := range man.Counts {
		if held[src]+int64(deadBySource[src]) != int64(n) {
			t.Errorf("%s: generated %d, store %d + dead letters %d", src, n, held[src], deadBySource[src])
		}
	}
	if counts.GoldenCustomers == 0 || counts.GoldenCustomers > int64(man.Counts["erp/customers"]+man.Counts["crm/contacts"]+man.Counts["finance/debtors"]) {
		t.Errorf("golden customers %d", counts.GoldenCustomers)
	}
	_ = broker.cmd.Process.Signal(syscall.SIGTERM)
	if err := broker.cmd.Wait(); err != nil {
		t.Errorf("broker did not stop cleanly on SIGTERM: %v", err)
	}
}
