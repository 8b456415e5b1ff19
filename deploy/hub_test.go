package deploy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/internal/app/demohub"
	"github.com/crmhub/crmhub/internal/app/server"
)

// The dashboard and Prometheus tests look at a real hub: the quickstart
// configuration on a small generated demo, connectors in-process, embedded
// Kafka and SQLite, HTTP on a free loopback port. It is started once for the
// test binary, on first use, and closed by TestMain.

type runningHub struct {
	srv  *server.Server
	addr string // host:port of the API, /metrics included
	// demoDir holds the simulated systems the connectors read.
	demoDir string
	err     error
}

var (
	hubOnce  sync.Once
	theHub   runningHub
	hubClean []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(hubClean) - 1; i >= 0; i-- {
		hubClean[i]()
	}
	os.Exit(code)
}

// startHub returns the shared running hub, after its first records were
// applied, so that the labelled metrics have series.
func startHub(t *testing.T) *runningHub {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a hub with demo data; skipped with -short")
	}
	hubOnce.Do(func() { theHub.err = launchHub() })
	if theHub.err != nil {
		t.Fatalf("start the hub: %v", theHub.err)
	}
	return &theHub
}

func launchHub() error {
	dir, err := os.MkdirTemp("", "crmhub-deploy-test")
	if err != nil {
		return err
	}
	hubClean = append(hubClean, func() { os.RemoveAll(dir) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 75*time.Second)
	defer cancel()
	// Authentication on, as in production, so its metrics are exported
	// (these tests read only /metrics, which stays open to Prometheus).
	on := true
	r, err := demohub.Start(ctx, demohub.RunOptions{Dir: filepath.Join(dir, "demo"), Seed: 8, People: 40, InProcess: true, Logger: log,
		Configure: func(c *config.Config) { c.Auth.Enabled = &on }})
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	hubClean = append(hubClean, func() { _ = r.Close() })
	theHub.srv, theHub.addr, theHub.demoDir = r.Server, r.Server.HTTPAddr(), r.Dir

	// Wait for golden customers: by then every part (connectors, bus,
	// applier, store) has produced series.
	for {
		c, err := r.Server.Store().Counts(ctx)
		if err == nil && c.GoldenCustomers > 0 && c.AppliedEvents > 0 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no golden customer in time (counts %+v, err %v)", c, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// scrapedFamilies reads the hub's /metrics and returns each family's name
// and type ("counter", "gauge", "histogram", ...).
func scrapedFamilies(t *testing.T, addr string) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// registered reports whether the hub's registry holds a metric family named
// name. A vector without children (no dead letter, no apply error yet) is
// registered but absent from /metrics; registering a probe under the same
// name is refused exactly when the name is taken.
func registered(reg *prometheus.Registry, name string) bool {
	probe := probeCollector{prometheus.NewDesc(name, "crmhub deploy test probe", nil, nil)}
	if err := reg.Register(probe); err != nil {
		return true
	}
	reg.Unregister(probe)
	return false
}

type probeCollector struct{ d *prometheus.Desc }

func (p probeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- p.d }
func (p probeCollector) Collect(chan<- prometheus.Metric)    {}

// exported resolves a metric name as PromQL sees it to the family the hub
// exports: x_bucket, x_sum and x_count belong to histogram x. scraped are
// the families of /metrics; reg, when not nil, is asked for registered
// families that have no series yet.
func exported(name string, scraped map[string]string, reg *prometheus.Registry) (family string, ok bool) {
	if name == "up" { // made by Prometheus for every target
		return name, true
	}
	if _, ok := scraped[name]; ok {
		return name, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, cut := strings.CutSuffix(name, suf); cut {
			if typ := scraped[base]; typ == "histogram" || (suf != "_bucket" && typ == "summary") {
				return base, true
			}
			if reg != nil && registered(reg, base) {
				return base, true
			}
		}
	}
	if reg != nil && registered(reg, name) {
		return name, true
	}
	return "", false
}
