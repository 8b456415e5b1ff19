package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
)

type countsT = hub.Counts

// TestPrometheusScrapesHubIntegration runs Debian's prometheus on loopback,
// scraping the in-process hub every second with the alert rules loaded,
// and asks it through its HTTP API for dashboard expressions: each must
// return series, and the ones with a known answer must give it.
func TestPrometheusScrapesHubIntegration(t *testing.T) {
	bin := tool(t, "prometheus")
	h := startHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	api := runPrometheus(ctx, t, bin, h, filepath.Join("prometheus", "crmhub-alerts.yml"))

	// The real Prometheus loads every rule and evaluates it without error.
	waitFor(ctx, t, "rules evaluated", func() error {
		var r struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name, Health, LastError string
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := getJSON(api+"/api/v1/rules", &r); err != nil {
			return err
		}
		n := 0
		for _, g := range r.Data.Groups {
			for _, rule := range g.Rules {
				if rule.Health != "ok" {
					return fmt.Errorf("rule %s: health %q %s", rule.Name, rule.Health, rule.LastError)
				}
				n++
			}
		}
		if want := len(alertExprs(t)); n != want {
			return fmt.Errorf("%d rules loaded, want %d", n, want)
		}
		return nil
	})

	exprs := map[string]string{}
	for _, p := range allPanels(loadDashboard(t, dashboardFile).Panels) {
		for _, tg := range p.Targets {
			exprs[p.Title+"/"+tg.RefID] = tg.Expr
		}
	}
	connectors := len(h.srv.States())
	// The store's answer, read when the check runs: the hub may still be
	// applying.
	store := func(field func(c countsT) int64) func([]float64) error {
		return func(vals []float64) error {
			c, err := h.srv.Store().Counts(ctx)
			if err != nil {
				return err
			}
			return equal(float64(field(c)))(vals)
		}
	}
	for _, tc := range []struct {
		panel string
		want  func(vals []float64) error // nil: any values
	}{
		{panel: "Connectors up/A", want: equal(float64(connectors))},
		{panel: "Connectors down/A", want: equal(0)},
		{panel: "Golden customers/A", want: store(func(c countsT) int64 { return c.GoldenCustomers })},
		{panel: "Oldest successful read/A", want: between(0, 60)},
		{panel: "Connector status/A"},
		// Rates and quantiles: series exist (the demo data went in before
		// Prometheus scraped, so their values may be 0 or NaN).
		{panel: "Records read/s/A"},
		{panel: "Read by entity/A"},
		{panel: "Published/s/A"},
		{panel: "Consumed by topic/B"},
		{panel: "Pipeline latency p95 (read to applied)/A"},
		{panel: "Applied/s/A"},
		{panel: "Consumer lag/A"},
		{panel: "Produce latency/B"},
		{panel: "Golden created / merged/A"},
		{panel: "Parked records/A", want: store(func(c countsT) int64 { return c.Parked })},
	} {
		expr, ok := exprs[tc.panel]
		if !ok {
			t.Errorf("the dashboard has no panel target %s", tc.panel)
			continue
		}
		waitSeries(ctx, t, api, tc.panel, expr, tc.want)
	}
	if connectors < 4 {
		t.Errorf("the quickstart runs %d connectors, want 4", connectors)
	}
}

// runPrometheus starts prometheus on loopback, scraping the hub every
// second (with the rule file loaded, when given), waits until the hub's
// target is up and returns the base URL of its API. It is killed when the
// test ends, and prints its log when the test failed.
func runPrometheus(ctx context.Context, t *testing.T, bin string, h *runningHub, ruleFile string) string {
	t.Helper()
	dir := t.TempDir()
	ruleFiles := "[]"
	if ruleFile != "" {
		rules, err := os.ReadFile(ruleFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(ruleFile)), rules, 0o644); err != nil {
			t.Fatal(err)
		}
		ruleFiles = "[" + filepath.Base(ruleFile) + "]"
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: %s
scrape_configs:
  - job_name: crmhub
    static_configs: [{targets: [%q]}]
`, ruleFiles, h.addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeLoopback(t)
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})
	api := "http://" + addr

	waitFor(ctx, t, "prometheus ready", func() error {
		resp, err := http.Get(api + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s", resp.Status)
		}
		return nil
	})
	waitFor(ctx, t, "the hub target up", func() error {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := getJSON(api+"/api/v1/targets", &r); err != nil {
			return err
		}
		if t := r.Data.ActiveTargets; len(t) != 1 || t[0].Health != "up" {
			return fmt.Errorf("targets %+v", t)
		}
		return nil
	})

	return api
}

// waitSeries runs a dashboard expression (Grafana's variables replaced)
// until it returns series and want, when given, accepts their values.
func waitSeries(ctx context.Context, t *testing.T, api, panel, expr string, want func([]float64) error) {
	t.Helper()
	q := grafanaVars.Replace(expr)
	waitFor(ctx, t, panel, func() error {
		vals, err := query(api, q)
		if err != nil {
			return err
		}
		if len(vals) == 0 {
			return fmt.Errorf("no series for %s", q)
		}
		if want != nil {
			if err := want(vals); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		t.Logf("%s: %v", panel, vals)
		return nil
	})
}

// grafanaVars stands in for Grafana: all jobs and connectors, and windows
// that hold several 1s scrapes.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5s",
	"$__range", "30s",
	`"$job"`, `".*"`,
	`"$connector"`, `".*"`,
)

func equal(want float64) func([]float64) error {
	return func(vals []float64) error {
		if len(vals) != 1 || vals[0] != want {
			return fmt.Errorf("got %v, want [%v]", vals, want)
		}
		return nil
	}
}

func between(lo, hi float64) func([]float64) error {
	return func(vals []float64) error {
		if len(vals) != 1 || vals[0] < lo || vals[0] > hi {
			return fmt.Errorf("got %v, want one value in %v..%v", vals, lo, hi)
		}
		return nil
	}
}

// query runs an instant query and returns the sample values.
func query(api, q string) ([]float64, error) {
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(api+"/api/v1/query?query="+url.QueryEscape(q), &r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, r.Error)
	}
	var out []float64
	for _, s := range r.Data.Result {
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v: %w", q, s.Value, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s (%s): %w", u, resp.Status, err)
	}
	return nil
}

// waitFor retries check until it succeeds or ctx ends, and fails the test
// with the last error.
func waitFor(ctx context.Context, t *testing.T, what string, check func() error) {
	t.Helper()
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
