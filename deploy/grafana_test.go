package deploy_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const dashboardFile = "grafana/dashboards/crmhub-sync-health.json"

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"` // a string, or {"query": ...}
			Definition string          `json:"definition"`
			AllValue   string          `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Repeat     string `json:"repeat"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels  []panel `json:"panels"` // collapsed rows
	GridPos struct {
		X, Y, W, H int
	} `json:"gridPos"`
}

// loadDashboard reads a dashboard file (dashboardFile, businessDashboardFile).
func loadDashboard(t *testing.T, f string) dashboard {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	return d
}

// allPanels flattens rows, collapsed rows included.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// dashboardQueries returns every PromQL expression of the dashboard (panel
// targets and template variable queries) with where it is.
func dashboardQueries(t *testing.T, d dashboard) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s has no expression", p.Title, tg.RefID)
				continue
			}
			out["panel "+p.Title+" target "+tg.RefID] = tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Errorf("variable %s: query %s", v.Name, v.Query)
			}
		}
		out["variable "+v.Name] = q.Query
	}
	return out
}

// TestDashboardShape checks what Grafana needs and what the issue asks for:
// unique panel ids, panels on the 24-column grid, one data source variable
// every query goes through, a connector variable with a repeated drill-down
// row, and rows for dead letters, identity resolution and the bus.
func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t, dashboardFile)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q", d.UID, d.Title)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["connector"] != "query" {
		t.Errorf("want a datasource variable and a connector query variable, got %v", vars)
	}
	ids := map[int]string{}
	var rows []string
	repeated := false
	for _, p := range allPanels(d.Panels) {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q gridPos %+v is off the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			rows = append(rows, p.Title)
			if p.Repeat == "connector" && strings.Contains(p.Title, "$connector") {
				repeated = true
			}
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the ${datasource} variable: %+v", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	if !repeated {
		t.Error("no row repeated per connector")
	}
	for _, want := range []string{"Overview", "Dead letters", "Identity resolution", "Bus"} {
		if !slices.Contains(rows, want) {
			t.Errorf("row %q missing (rows %v)", want, rows)
		}
	}
	for where, q := range dashboardQueries(t, d) {
		if _, err := grafanaQueryNames(q); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
}

// TestDashboardMetricsExported checks every metric name in every PromQL
// expression of the dashboard and of the alert rules against the families a
// running hub exports on /metrics. Labelled families without a series yet
// (no apply error happened) are asked of the hub's registry.
func TestDashboardMetricsExported(t *testing.T) {
	h := startHub(t)
	scraped := scrapedFamilies(t, h.addr)
	if len(scraped) < 20 {
		t.Fatalf("/metrics has only %d families: %v", len(scraped), scraped)
	}
	queries := dashboardQueries(t, loadDashboard(t, dashboardFile))
	for name, expr := range alertExprs(t) {
		queries["alert "+name] = expr
	}
	used := map[string]bool{}
	unscraped := map[string]bool{}
	for where, q := range queries {
		names, err := grafanaQueryNames(q)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		if len(names) == 0 && !strings.HasPrefix(where, "variable job") {
			t.Errorf("%s: no metric in %q", where, q)
		}
		for _, n := range names {
			fam, ok := exported(n, scraped, nil)
			if !ok {
				fam, ok = exported(n, scraped, h.srv.Registry())
				if ok {
					unscraped[fam] = true
				}
			}
			if !ok {
				t.Errorf("%s uses %s, which the hub does not export", where, n)
				continue
			}
			used[fam] = true
		}
	}
	if len(unscraped) > 0 {
		t.Logf("registered but without series in this run (no such event yet): %v", slices.Sorted(maps.Keys(unscraped)))
	}
	if len(used) < 20 {
		t.Errorf("only %d metric families used: %v", len(used), used)
	}
}

// alertExprs reads the alert rules: alert name -> expression.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, filepath.Join("prometheus", "crmhub-alerts.yml"), &rules)
	out := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	if len(out) == 0 {
		t.Fatal("no alert rules")
	}
	return out
}

var (
	catalogRow   = regexp.MustCompile("(?m)^\\| `((?:crmhub|go|process)_[a-z0-9_]+)` \\|(.*)$")
	catalogPanel = regexp.MustCompile(`panels? \*([^*]+)\*((?:, \*[^*]+\*)*)`)
	catalogAlert = regexp.MustCompile(`\bCrmhub[A-Za-z]+\b`)
	italic       = regexp.MustCompile(`\*([^*]+)\*`)
)

// TestMetricsCatalog keeps METRICS.md true: every crmhub family the running
// hub exports is documented, every documented metric is registered, and
// every alert and panel the catalog names exists.
func TestMetricsCatalog(t *testing.T) {
	b, err := os.ReadFile("METRICS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	documented := map[string]string{} // name -> rest of its table row
	for _, m := range catalogRow.FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = m[2]
	}
	if len(documented) < 20 {
		t.Fatalf("METRICS.md documents only %d metrics", len(documented))
	}

	alerts := alertExprs(t)
	for _, a := range catalogAlert.FindAllString(doc, -1) {
		if _, ok := alerts[a]; !ok {
			t.Errorf("METRICS.md names alert %s, which prometheus/crmhub-alerts.yml does not define", a)
		}
	}
	for a := range alerts {
		if !strings.Contains(doc, "| "+a+" |") {
			t.Errorf("alert %s is not in the alerts table of METRICS.md", a)
		}
	}
	titles := map[string]bool{}
	for _, p := range allPanels(loadDashboard(t, dashboardFile).Panels) {
		titles[p.Title] = true
	}
	for name, row := range documented {
		for _, m := range catalogPanel.FindAllStringSubmatch(row, -1) {
			for _, it := range italic.FindAllStringSubmatch(m[0], -1) {
				if !titles[it[1]] {
					t.Errorf("METRICS.md: %s is shown on panel %q, which the dashboard does not have", name, it[1])
				}
			}
		}
	}

	h := startHub(t)
	scraped := scrapedFamilies(t, h.addr)
	for fam := range scraped {
		if strings.HasPrefix(fam, "crmhub_") && documented[fam] == "" {
			t.Errorf("the hub exports %s, which METRICS.md does not document", fam)
		}
	}
	for name := range documented {
		if strings.HasPrefix(name, "crmhub_") {
			if _, ok := exported(name, scraped, h.srv.Registry()); !ok {
				t.Errorf("METRICS.md documents %s, which the hub does not export", name)
			}
		}
	}
}

// TestGrafanaProvisioning checks the provisioning files against the
// dashboard and docker-compose.yml: the data source uid the dashboard
// defaults to, and the dashboards path compose mounts.
func TestGrafanaProvisioning(t *testing.T) {
	var ds struct {
		Datasources []struct {
			Name, UID, Type, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/prometheus.yaml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].UID == "" {
		t.Fatalf("want one prometheus data source with a uid: %+v", ds)
	}
	if ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("data source url %s, want the compose service http://prometheus:9090", ds.Datasources[0].URL)
	}
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Templating struct {
			List []struct {
				Name    string         `json:"name"`
				Query   any            `json:"query"`
				Current map[string]any `json:"current"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, v := range raw.Templating.List {
		if v.Name == "datasource" && (v.Query != "prometheus" || v.Current["value"] != ds.Datasources[0].UID) {
			t.Errorf("datasource variable %+v does not default to the provisioned %q", v, ds.Datasources[0].UID)
		}
	}

	var dp struct {
		Providers []struct {
			Type    string         `yaml:"type"`
			Options map[string]any `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "grafana/provisioning/dashboards/crmhub.yaml", &dp)
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" {
		t.Fatalf("want one file provider: %+v", dp)
	}
	var c composeFile
	readYAML(t, "docker-compose.yml", &c)
	path := dp.Providers[0].Options["path"]
	want := "./grafana/dashboards:" + path.(string)
	if !slices.ContainsFunc(c.Services["grafana"].Volumes, func(v string) bool { return strings.HasPrefix(v, want) }) {
		t.Errorf("grafana provisions dashboards from %v but compose does not mount %s (volumes %v)", path, want, c.Services["grafana"].Volumes)
	}
	if !slices.ContainsFunc(c.Services["grafana"].Volumes, func(v string) bool {
		return strings.HasPrefix(v, "./grafana/provisioning:/etc/grafana/provisioning")
	}) {
		t.Errorf("compose does not mount the provisioning files at /etc/grafana/provisioning")
	}
	for _, f := range []string{dashboardFile} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
}
