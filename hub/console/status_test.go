package console_test

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub/auth"
	"github.com/crmhub/crmhub/hub/config"
)

// TestConsoleStatusLive runs a hub whose CRM connector reads the CRM's
// REST API through a server the test stops and starts again. The status
// page shows the same figures as /metrics, turns the connector "retrying"
// with the connection error when the server goes away for real, and
// "running" again when it is back, refreshing by itself.
func TestConsoleStatusLive(t *testing.T) {
	ctx := browserTest(t, 3*time.Minute)
	var crm *switchable
	h := startHubWith(t, ctx, func(c *config.Config) {
		every := config.Duration(time.Second)
		for i := range c.Connectors {
			k := &c.Connectors[i]
			k.ReconcileInterval = &every // drift on the page from the start
			if k.Name == "crm" {
				crm = newSwitchable(t, k.Settings["base_url"].(string))
				k.Settings["base_url"] = crm.url
				// The runner's backoff retries, not the client's: the
				// page shows the first failed read.
				k.Settings["max_retries"] = 0
			}
		}
	})
	if crm == nil {
		t.Fatal("the quickstart config has no crm connector")
	}

	tb := newBrowser(t, ctx).tab()
	tb.signIn(h.base, h.tokens[auth.ScopeSteward])
	tb.goTo("#/status")
	tb.wait("crm running and a reconciliation", `document.querySelector('#connectors tr[data-connector=crm][data-state=running]') && document.querySelector('tr[data-reconcile]')`)

	t.Run("same figures as /metrics", func(t *testing.T) {
		// Counters and timestamps only grow: the page's figure lies
		// between a scrape before its refresh and one after.
		before := scrape(t, h.base)
		stamp := eval[string](tb, `document.getElementById('status-updated').textContent`)
		tb.wait("a refresh", fmt.Sprintf(`document.getElementById('status-updated').textContent !== %s`, jsString(stamp)))
		type row struct {
			Name  string             `json:"name"`
			Cells map[string]*string `json:"cells"`
		}
		cells := `Object.fromEntries([...tr.querySelectorAll('[data-metric]')].map((td) => [td.dataset.metric, td.dataset.value === undefined ? null : td.dataset.value]))`
		rows := eval[[]row](tb, `[...document.querySelectorAll('#connectors tr[data-connector]')].map((tr) => ({name: tr.dataset.connector, cells: `+cells+`}))`)
		recs := eval[[]row](tb, `[...document.querySelectorAll('tr[data-reconcile]')].map((tr) => ({name: tr.dataset.reconcile, cells: `+cells+`}))`)
		after := scrape(t, h.base)
		if len(rows) == 0 || len(recs) == 0 {
			t.Fatalf("the page shows %d connectors and %d reconciliations", len(rows), len(recs))
		}
		for _, r := range rows {
			sel := `connector="` + r.Name + `"`
			for metric, name := range map[string]string{"records_read": "crmhub_pipeline_records_read_total",
				"records_mapped": "crmhub_pipeline_records_mapped_total", "records_dead_lettered": "crmhub_pipeline_dead_letters_total",
				"last_success": "crmhub_connector_last_success_timestamp_seconds"} {
				lo, hi := before.sum(name, sel), after.sum(name, sel)
				page := pageFloat(t, r.Name, metric, r.Cells[metric])
				// The page's times have milliseconds (a JavaScript Date).
				if page < lo-0.001 || page > hi+0.001 {
					t.Errorf("%s %s: page %v, /metrics %v before and %v after", r.Name, metric, page, lo, hi)
				}
			}
			if r.Name == "crm" && pageFloat(t, r.Name, "records_read", r.Cells["records_read"]) == 0 {
				t.Error("crm read nothing: the comparison proves little")
			}
			lagBefore, okBefore := before.max("crmhub_pipeline_source_lag_seconds", sel)
			lagAfter, okAfter := after.max("crmhub_pipeline_source_lag_seconds", sel)
			switch v := r.Cells["source_lag_seconds"]; {
			case v == nil && (okBefore || okAfter) && okBefore == okAfter:
				t.Errorf("%s: no lag on the page, /metrics has %v", r.Name, lagAfter)
			case v != nil && !(okBefore && pageFloat(t, r.Name, "lag", v) == lagBefore) && !(okAfter && pageFloat(t, r.Name, "lag", v) == lagAfter):
				t.Errorf("%s lag: page %s, /metrics %v before and %v after", r.Name, *v, lagBefore, lagAfter)
			}
		}
		for _, r := range recs {
			connector, entity, _ := strings.Cut(r.Name, "/")
			sel := `connector="` + connector + `",entity="` + entity + `"`
			b, bok := before.max("crmhub_reconcile_drift_records", sel)
			a, aok := after.max("crmhub_reconcile_drift_records", sel)
			if !bok && !aok {
				// Never counted (the REST sources cannot count): no figure.
				if v := r.Cells["drift"]; v != nil {
					t.Errorf("%s: the page shows drift %s, /metrics has none", r.Name, *v)
				}
				continue
			}
			if page := pageFloat(t, r.Name, "drift", r.Cells["drift"]); page != b && page != a {
				t.Errorf("%s drift: page %v, /metrics %v before and %v after", r.Name, page, b, a)
			}
		}
		tb.shot("13-status-live")
	})

	t.Run("source goes away and comes back", func(t *testing.T) {
		crm.down()
		tb.wait("crm retrying", `document.querySelector('#connectors tr[data-connector=crm][data-state=retrying]')`)
		row := eval[string](tb, `document.querySelector('#connectors tr[data-connector=crm]').textContent`)
		if !strings.Contains(row, "connection refused") {
			t.Errorf("the retrying connector's row lacks the connection error: %q", row)
		}
		if eval[bool](tb, `!document.querySelector('#connectors tr[data-connector=erp][data-state=running]')`) {
			t.Error("the other connectors should keep running")
		}
		tb.shot("14-status-source-gone")
		crm.up()
		tb.wait("crm running again", `document.querySelector('#connectors tr[data-connector=crm][data-state=running]')`)
		tb.shot("15-status-source-back")
	})
}

func pageFloat(t *testing.T, who, metric string, v *string) float64 {
	t.Helper()
	if v == nil {
		t.Fatalf("%s: the page has no %s", who, metric)
	}
	f, err := strconv.ParseFloat(*v, 64)
	if err != nil {
		t.Fatalf("%s %s: %v", who, metric, err)
	}
	return f
}

// exposition is /metrics in the text format, a line per series.
type exposition []string

func scrape(t *testing.T, base string) exposition {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", res.StatusCode, err)
	}
	return strings.Split(string(b), "\n")
}

// each calls fn with the value of every series of name whose labels
// contain sel (`connector="crm"`).
func (e exposition) each(name, sel string, fn func(float64)) {
	for _, l := range e {
		if !strings.HasPrefix(l, name+"{") || !strings.Contains(l, sel) {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			fn(v)
		}
	}
}

func (e exposition) sum(name, sel string) float64 {
	n := 0.0
	e.each(name, sel, func(v float64) { n += v })
	return n
}

func (e exposition) max(name, sel string) (float64, bool) {
	m, ok := math.Inf(-1), false
	e.each(name, sel, func(v float64) { m, ok = math.Max(m, v), true })
	return m, ok
}

// switchable forwards to a REST API on an address that can stop
// listening (connections refused, as when the system is down) and listen
// again.
type switchable struct {
	t     *testing.T
	url   string
	addr  string
	proxy http.Handler
	mu    sync.Mutex
	srv   *http.Server
}

func newSwitchable(t *testing.T, target string) *switchable {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &switchable{t: t, addr: ln.Addr().String(), proxy: httputil.NewSingleHostReverseProxy(u)}
	s.url = "http://" + s.addr
	s.serve(ln)
	t.Cleanup(s.down)
	return s
}

func (s *switchable) serve(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv = &http.Server{Handler: s.proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
}

func (s *switchable) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.srv.Close()
}

func (s *switchable) up() {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.serve(ln)
}
