package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/hub/store"
)

// binPath is the crmhub binary built once for the end-to-end tests: they run
// the real binary, whose built-in connectors are its own re-executed plugin
// processes.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crmhub-e2e-bin")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "crmhub")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build crmhub: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeLoopback()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// hubProc is a running `crmhub demo`.
type hubProc struct {
	cmd    *exec.Cmd
	api    string
	kafka  string
	mu     sync.Mutex
	output strings.Builder
}

func startDemo(t *testing.T, dir string) *hubProc {
	t.Helper()
	p := &hubProc{api: freeAddr(t), kafka: freeAddr(t)}
	p.cmd = exec.Command(binPath, "demo", "--dir", dir, "--http", p.api, "--kafka", p.kafka)
	p.start(t)
	return p
}

// start runs p.cmd with its output collected, and kills it when the test
// ends (printing the output if the test failed).
func (p *hubProc) start(t *testing.T) {
	t.Helper()
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.output.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("crmhub output:\n%s", p.log())
		}
	})
}

func (p *hubProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

func (p *hubProc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("crmhub exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatal("crmhub did not stop within 30s of SIGTERM")
	}
}

// metrics sums the samples of each metric family the hub exports.
func (p *hubProc) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.api + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			// keep reason_class labels apart: the test checks them
			if strings.Contains(name, "reason_class") {
				out[name] += 0
			}
			name = name[:i]
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// readDeadLetters reads the whole dead-letter topic from the running broker.
func readDeadLetters(t *testing.T, broker string) []hub.DeadLetter {
	t.Helper()
	return readDeadLettersWith(t, kafka.DefaultDialer, broker, 20*time.Second)
}

// readDeadLettersWith reads the whole dead-letter topic through dialer,
// within timeout.
func readDeadLettersWith(t *testing.T, dialer *kafka.Dialer, broker string, timeout time.Duration) []hub.DeadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := dialer.DialContext(ctx, "tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions("crmhub.deadletter")
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out []hub.DeadLetter
	for _, p := range parts {
		lc, err := dialer.DialLeader(ctx, "tcp", broker, p.Topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := lc.ReadLastOffset()
		lc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if last == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: p.Topic, Partition: p.ID,
			MaxWait: 100 * time.Millisecond, Dialer: dialer})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var d hub.DeadLetter
			if err := json.Unmarshal(m.Value, &d); err != nil {
				t.Fatalf("dead letter is not JSON: %v", err)
			}
			out = append(out, d)
			if m.Offset+1 >= last {
				break
			}
		}
		r.Close()
	}
	return out
}

// TestDemoEndToEnd runs the real binary on generated sample systems and
// accounts for every record: each one is in the store or in the dead-letter
// topic with a reason; golden customers match the ground truth for the
// deterministic cases; a restart applies nothing twice.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	dir := t.TempDir()
	man, err := demo.Generate(context.Background(), demo.Options{Dir: dir, Seed: 7, People: 80})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range man.Counts {
		total += n
	}
	expectedDead := 0
	for _, n := range man.ExpectedDeadLetters {
		expectedDead += n
	}

	p := startDemo(t, dir)
	waitFor(t, "every record consumed or dead-lettered", 3*time.Minute, func() bool {
		m := p.metrics(t)
		return m["crmhub_hub_consumed_total"]+m["crmhub_pipeline_dead_letters_total"] >= float64(total)
	})
	m := p.metrics(t)
	if got := m["crmhub_hub_consumed_total"] + m["crmhub_pipeline_dead_letters_total"]; got != float64(total) {
		t.Errorf("consumed+dead = %v, generated %d: records were duplicated", got, total)
	}
	dls := readDeadLetters(t, p.kafka)
	deadBySource := map[string]int{}
	for _, d := range dls {
		if d.Reason == "" || d.ReasonClass == "" {
			t.Errorf("dead letter without a reason: %+v", d)
		}
		deadBySource[d.System+"/"+d.SourceEntity]++
	}
	if len(dls) < expectedDead {
		t.Errorf("dead letters %d, the generator broke %d records on purpose", len(dls), expectedDead)
	}

	// Resolve every customer source record to its golden id over the API.
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
		u := fmt.Sprintf("http://%s/v1/customers?system=%s&source_id=%s", p.api, url.QueryEscape(rec.System), url.QueryEscape(rec.SourceID))
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) == 1 {
			assign[rec.Key()] = res.Items[0].ID
		}
	}
	score := tr.Score(assign)
	det := tr.Deterministic().Score(assign)
	t.Logf("identity on the demo: all %+v; deterministic %+v", score, det)
	if det.Precision != 1 || det.Recall != 1 {
		t.Errorf("deterministic cases: precision %v recall %v, want 1 and 1", det.Precision, det.Recall)
	}
	if score.TaxIDConflicts != 0 {
		t.Errorf("%d golden customers hold different tax ids", score.TaxIDConflicts)
	}

	// One customer by e-mail carries its sources and linked records.
	email := man.SampleEmails[0]
	resp, err := http.Get(fmt.Sprintf("http://%s/v1/customers?email=%s", p.api, strings.ToUpper(email)))
	if err != nil {
		t.Fatal(err)
	}
	var found struct {
		Items []hub.CustomerView `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&found); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(found.Items) != 1 || len(found.Items[0].Sources) < 2 {
		t.Fatalf("customer by e-mail %s: %+v", email, found.Items)
	}
	readmeStewardSection(t, p.api)
	demoValue(t, p.api)

	p.stop(t)

	// Count what the store holds per source: with the dead letters, that is
	// every generated record, none twice.
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(dir, "hub", "crmhub.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	held, err := st.CountBySource(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := st.Counts(context.Background())
	st.Close()
	for src, n := range man.Counts {
		if held[src]+int64(deadBySource[src]) != int64(n) {
			t.Errorf("%s: generated %d, store %d + dead letters %d", src, n, held[src], deadBySource[src])
		}
	}

	// A restart re-syncs nothing and applies nothing twice.
	appliedBefore := before.AppliedEvents
	p2 := startDemo(t, dir)
	waitFor(t, "restarted hub ready", time.Minute, func() bool {
		resp, err := http.Get("http://" + p2.api + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	time.Sleep(5 * time.Second) // several poll intervals of every connector
	m2 := p2.metrics(t)
	// A REST source re-reads a small overlap window on purpose (records
	// changed while it paged); the store must recognise them and apply none.
	if n := m2["crmhub_hub_applied_total"]; n != 0 {
		t.Errorf("restart applied %v records again", n)
	}
	t.Logf("restart re-read %v records in overlap windows, applied none", m2["crmhub_pipeline_records_published_total"])
	p2.stop(t)
	st, err = store.Open(context.Background(), "sqlite", filepath.Join(dir, "hub", "crmhub.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := st.Counts(context.Background())
	st.Close()
	if after != before || after.AppliedEvents != appliedBefore {
		t.Errorf("store changed across a restart: before %+v after %+v", before, after)
	}
}

// readmeStewardSection runs the README's steward commands, as written but
// for the address, against the running demo (authentication off): the
// replay and the review decision succeed, and the audit names the actor
// "local".
func readmeStewardSection(t *testing.T, api string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case l == "```sh" && !in:
			in = true
			cmds = nil
		case l == "```" && in:
			in = false
			if len(cmds) > 0 && strings.Contains(cmds[0], "deadletters list") {
				goto found
			}
		case in:
			cmds = append(cmds, l)
		}
	}
	t.Fatal("README has no steward block starting with `deadletters list`")
found:
	if len(cmds) != 5 {
		t.Fatalf("README steward block: %d commands, want 5: %q", len(cmds), cmds)
	}
	base := "http://" + api
	run := func(i int) []byte {
		t.Helper()
		args := strings.Fields(strings.TrimPrefix(cmds[i], "go run ./cmd/crmhub "))
		cmd := exec.Command(binPath, append(args, "--url", base)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmds[i], err, out)
		}
		return out
	}
	if out := run(0); !strings.Contains(string(out), "mapping_error") {
		t.Errorf("%s printed no mapping_error dead letter:\n%s", cmds[0], out)
	}
	out := run(1)
	t.Logf("%s: %s", cmds[1], strings.TrimSpace(string(out)))
	var reviews struct {
		Items []hub.Review `json:"items"`
	}
	if !getInto(t, base+"/v1/reviews?limit=1", &reviews) {
		t.Fatal("GET /v1/reviews failed")
	}
	if len(reviews.Items) == 0 {
		t.Fatal("the demo has no review item to decide")
	}
	r := reviews.Items[0]
	body := strings.NewReplacer(`"A"`, `"`+r.A+`"`, `"B"`, `"`+r.B+`"`).Replace(cmds[3][strings.Index(cmds[3], "-d '")+4 : len(cmds[3])-1])
	resp, err := http.Post(base+"/v1/reviews/decision", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("review decision as in the README: %d %s", resp.StatusCode, msg)
	}
	var audit struct {
		Items []hub.AuditEntry `json:"items"`
	}
	if !getInto(t, base+"/v1/customers/"+r.GoldenA+"/audit", &audit) || len(audit.Items) == 0 {
		t.Fatalf("audit of %s: %+v", r.GoldenA, audit)
	}
	if last := audit.Items[len(audit.Items)-1]; last.Actor != "local" {
		t.Errorf("audit actor %q, want local", last.Actor)
	}
}

// demoValue: the demo's orders carry channels and categories, and the
// customer value figures (computed as of the generator's day, deferred)
// show them in the analytics and put customers in several stages.
func demoValue(t *testing.T, api string) {
	t.Helper()
	get := func(path string, v any) {
		resp, err := http.Get("http://" + api + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
	}
	waitFor(t, "revenue by channel and category", time.Minute, func() bool {
		var ch, cat struct{ Items []struct{ Key string } }
		get("/v1/analytics/revenue?by=channel", &ch)
		get("/v1/analytics/revenue?by=category", &cat)
		return len(ch.Items) >= 3 && len(cat.Items) >= 5
	})
	var segs struct {
		Items []struct {
			Stage     string
			Customers int
		}
	}
	get("/v1/segments", &segs)
	stages := map[string]int{}
	for _, s := range segs.Items {
		stages[s.Stage] += s.Customers
	}
	if len(stages) < 4 {
		t.Errorf("demo customers by stage %v, want at least four stages", stages)
	}
	t.Logf("demo customers by stage: %v", stages)
}
