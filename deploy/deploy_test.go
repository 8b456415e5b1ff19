package deploy_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"github.com/crmhub/crmhub/hub/config"
	"gopkg.in/yaml.v3"
)

// The deployment files cannot run here (no Docker, no Kubernetes, no helm
// binary in Debian), so these tests check what can be checked: the YAML
// parses, images are pinned, the crmhub config parses with the real config
// loader, and every ${VAR} it needs is provided by the environment the
// deployment gives the container.

var varRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// requiredVars lists the ${VARS} without a default in a crmhub config.
func requiredVars(cfg string) []string {
	var out []string
	var live strings.Builder // comments are not expanded
	for line := range strings.Lines(cfg) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			live.WriteString(line)
		}
	}
	for _, m := range varRe.FindAllStringSubmatch(live.String(), -1) {
		if m[2] == "" && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

func readYAML(t *testing.T, path string, v any) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// checkImage fails for an image without an explicit version: no tag, or latest.
func checkImage(t *testing.T, where, image string) {
	t.Helper()
	if strings.Contains(image, "@sha256:") {
		return
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	if !ok || tag == "" || tag == "latest" || strings.Contains(tag, "{{") {
		t.Errorf("%s: image %q is not pinned to a version", where, image)
	}
}

// parseConfig loads a crmhub config with the real loader, resolving ${VARS}
// from env only: a variable the deployment does not set is an error.
func parseConfig(t *testing.T, name string, data []byte, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(name, data, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("crmhub config %s does not load with the deployment's environment %v: %v", name, slices.Sorted(maps.Keys(env)), err)
	}
	return cfg
}

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       map[string]any    `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		DependsOn   any               `yaml:"depends_on"` // list or map
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestComposeFile(t *testing.T) {
	var c composeFile
	readYAML(t, "docker-compose.yml", &c)
	for _, name := range []string{"kafka", "postgres", "crmhub", "prometheus", "grafana"} {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("service %s missing", name)
			continue
		}
		checkImage(t, "docker-compose.yml services."+name, s.Image)
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s uses volume %s that is not declared", name, src)
			}
		}
	}
	// The broker is `crmhub broker` from the image compose builds, with
	// SCRAM, advertising the name the hub dials.
	kafka := c.Services["kafka"]
	hub := c.Services["crmhub"]
	if kafka.Image != hub.Image || kafka.Build["dockerfile"] != "deploy/Dockerfile" {
		t.Errorf("kafka runs image %s (build %v), want the crmhub image %s built from deploy/Dockerfile", kafka.Image, kafka.Build, hub.Image)
	}
	brokerArgs := strings.Join(kafka.Command, " ")
	for _, want := range []string{"broker ", "--advertise kafka:9092", "--sasl-user crmhub", "--sasl-mechanism SCRAM-SHA-512", "--data-dir /var/lib/crmhub/"} {
		if !strings.Contains(brokerArgs, want) {
			t.Errorf("kafka command %q lacks %q", brokerArgs, want)
		}
	}
	if kafka.Environment["CRMHUB_KAFKA_PASSWORD"] == "" || kafka.Environment["CRMHUB_KAFKA_PASSWORD"] != hub.Environment["CRMHUB_KAFKA_PASSWORD"] {
		t.Errorf("broker password %q, hub password %q: want the same variable", kafka.Environment["CRMHUB_KAFKA_PASSWORD"], hub.Environment["CRMHUB_KAFKA_PASSWORD"])
	}

	if !slices.Equal(hub.Command, []string{"run", "--config", "/etc/crmhub/crmhub.yaml"}) {
		t.Errorf("crmhub command %v", hub.Command)
	}
	if hub.Build["dockerfile"] != "deploy/Dockerfile" {
		t.Errorf("crmhub build %v, want deploy/Dockerfile", hub.Build)
	}
	for _, dep := range []string{"kafka", "postgres"} {
		if dig(hub.DependsOn, dep, "condition") != "service_healthy" {
			t.Errorf("crmhub does not wait for %s to be healthy", dep)
		}
	}
	data, err := os.ReadFile("crmhub.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(hub.Volumes, func(v string) bool { return strings.HasPrefix(v, "./crmhub.yaml:/etc/crmhub/crmhub.yaml") }) {
		t.Errorf("crmhub.yaml is not mounted at /etc/crmhub/crmhub.yaml: %v", hub.Volumes)
	}
	for _, v := range requiredVars(string(data)) {
		if _, ok := hub.Environment[v]; !ok {
			t.Errorf("crmhub.yaml needs ${%s}; the crmhub service does not set it", v)
		}
	}
	// Compose interpolates ${POSTGRES_PASSWORD:-crmhub} itself; resolve it
	// the same way before handing the environment to the config loader.
	env := map[string]string{}
	for k, v := range hub.Environment {
		env[k] = varRe.ReplaceAllStringFunc(v, func(s string) string {
			m := varRe.FindStringSubmatch(s)
			return strings.TrimPrefix(m[2], ":-")
		})
	}
	cfg := parseConfig(t, "deploy/crmhub.yaml", data, env)
	if cfg.Store.Driver != "postgres" || !strings.Contains(cfg.Store.DSN, "@postgres:5432/") {
		t.Errorf("store %s %s, want postgres on the postgres service", cfg.Store.Driver, cfg.Store.DSN)
	}
	if cfg.Kafka.SASL.Mechanism != "SCRAM-SHA-512" || cfg.Kafka.SASL.Username != "crmhub" {
		t.Errorf("kafka sasl %s user %s, want SCRAM-SHA-512 as crmhub, as the broker runs", cfg.Kafka.SASL.Mechanism, cfg.Kafka.SASL.Username)
	}
	if !slices.Equal(cfg.Kafka.Brokers, []string{"kafka:9092"}) {
		t.Errorf("kafka brokers %v, want [kafka:9092]", cfg.Kafka.Brokers)
	}
	if !strings.HasSuffix(cfg.HTTP.Listen, ":8080") || !slices.Contains(hub.Ports, "8080:8080") {
		t.Errorf("http.listen %s, ports %v: want 8080 published", cfg.HTTP.Listen, hub.Ports)
	}

	var prom struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &prom)
	if len(prom.ScrapeConfigs) == 0 || !slices.Contains(prom.ScrapeConfigs[0].StaticConfigs[0].Targets, "crmhub:8080") {
		t.Errorf("prometheus does not scrape crmhub:8080: %+v", prom)
	}
}

func TestDockerfile(t *testing.T) {
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var froms []string
	var user, entry, cmd string
	var static bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			froms = append(froms, fields[1])
		case "USER":
			user = fields[1]
		case "ENTRYPOINT":
			entry = strings.Join(fields[1:], " ")
		case "CMD":
			cmd = strings.Join(fields[1:], " ")
		case "RUN":
			if strings.Contains(sc.Text(), "CGO_ENABLED=0") && strings.Contains(sc.Text(), "go build") {
				static = true
			}
		}
	}
	if len(froms) < 2 {
		t.Errorf("want a multi-stage build, got FROM %v", froms)
	}
	for _, img := range froms {
		if img != "scratch" {
			checkImage(t, "Dockerfile FROM", img)
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("USER %q: the image must not run as root", user)
	}
	if !static {
		t.Error("no CGO_ENABLED=0 go build: the binary must be static")
	}
	if !strings.Contains(entry, "/usr/local/bin/crmhub") || !strings.Contains(cmd, `"/etc/crmhub/crmhub.yaml"`) {
		t.Errorf("ENTRYPOINT %s CMD %s", entry, cmd)
	}
}

func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/crmhub.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	section := ""
	sections := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			sections[section] = true
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Errorf("malformed unit line %q", line)
		}
		keys[section+"."+k] = v
	}
	for _, s := range []string{"Unit", "Service", "Install"} {
		if !sections[s] {
			t.Errorf("section [%s] missing", s)
		}
	}
	if keys["Service.ExecStart"] != "/usr/local/bin/crmhub run --config /etc/crmhub/crmhub.yaml" {
		t.Errorf("ExecStart=%s", keys["Service.ExecStart"])
	}
	if u := keys["Service.User"]; u == "" || u == "root" {
		t.Errorf("User=%q: must not run as root", u)
	}
	if keys["Service.ExecReload"] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload=%q: systemctl reload must send SIGHUP (it reloads the mappings)", keys["Service.ExecReload"])
	}
	if keys["Service.Restart"] == "" || keys["Service.StateDirectory"] == "" {
		t.Error("want Restart= and StateDirectory=")
	}
}

// renderChart renders the chart's templates the way helm does, for the
// subset of template functions the chart uses.
func renderChart(t *testing.T, dir string, override func(values map[string]any)) map[string][]map[string]any {
	t.Helper()
	var chart map[string]any
	readYAML(t, filepath.Join(dir, "Chart.yaml"), &chart)
	var values map[string]any
	readYAML(t, filepath.Join(dir, "values.yaml"), &values)
	if override != nil {
		override(values)
	}
	checkImage(t, "values.yaml image", fmt.Sprintf("%v:%v", values["image"].(map[string]any)["repository"], values["image"].(map[string]any)["tag"]))
	data := map[string]any{
		"Values":  values,
		"Release": map[string]any{"Name": "test", "Namespace": "default"},
		"Chart":   map[string]any{"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"]},
	}
	root := template.New("chart")
	toYAML := func(v any) (string, error) {
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSuffix(buf.String(), "\n"), nil
	}
	indent := func(n int, s string) string {
		pad := strings.Repeat(" ", n)
		return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
	}
	root.Funcs(template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var buf bytes.Buffer
			err := root.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"toYaml":     toYAML,
		"indent":     indent,
		"nindent":    func(n int, s string) string { return "\n" + indent(n, s) },
		"quote":      func(v any) string { return fmt.Sprintf("%q", fmt.Sprint(v)) },
		"trunc":      func(n int, s string) string { return s[:min(n, len(s))] },
		"trimSuffix": func(suf, s string) string { return strings.TrimSuffix(s, suf) },
		"sha256sum": func(s string) string {
			h := sha256.Sum256([]byte(s))
			return hex.EncodeToString(h[:])
		},
	})
	files, err := filepath.Glob(filepath.Join(dir, "templates", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	if _, err := root.ParseFiles(files...); err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]any{} // kind -> objects
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasPrefix(name, "_") {
			continue
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			t.Fatalf("render %s: %v", name, err)
		}
		if strings.TrimSpace(buf.String()) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal(buf.Bytes(), &obj); err != nil {
			t.Fatalf("rendered %s is not YAML: %v\n%s", name, err, buf.String())
		}
		kind, _ := obj["kind"].(string)
		out[kind] = append(out[kind], obj)
	}
	return out
}

// dig walks nested maps and lists: dig(obj, "spec", "template", 0).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestHelmChart(t *testing.T) {
	objs := renderChart(t, "helm/crmhub", nil)
	for _, kind := range []string{"Deployment", "ConfigMap", "Service"} {
		if len(objs[kind]) != 1 {
			t.Fatalf("want one %s, got %d", kind, len(objs[kind]))
		}
	}
	if len(objs["ServiceMonitor"]) != 0 {
		t.Error("ServiceMonitor rendered although serviceMonitor.enabled is false")
	}
	dep := objs["Deployment"][0]
	c := dig(dep, "spec", "template", "spec", "containers", 0)
	checkImage(t, "Deployment", fmt.Sprint(dig(c, "image")))
	// The chart runs the image compose builds from deploy/Dockerfile.
	var compose composeFile
	readYAML(t, "docker-compose.yml", &compose)
	if img := fmt.Sprint(dig(c, "image")); img != compose.Services["crmhub"].Image {
		t.Errorf("chart image %s, compose builds %s: make them agree", img, compose.Services["crmhub"].Image)
	}
	if got := dig(c, "ports", 0, "containerPort"); got != 8080 {
		t.Errorf("containerPort %v, want 8080", got)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := dig(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %v, want %s", probe, got, path)
		}
		if got := dig(c, probe, "httpGet", "port"); got != "http" {
			t.Errorf("%s port %v, want http", probe, got)
		}
	}
	if dig(c, "resources", "requests", "memory") == nil || dig(c, "resources", "limits", "memory") == nil {
		t.Errorf("resources not set: %v", dig(c, "resources"))
	}
	if dig(dep, "spec", "template", "spec", "securityContext", "runAsNonRoot") != true {
		t.Error("pod does not run as non-root")
	}
	env := map[string]string{}
	secretRefs := 0
	for _, e := range dig(c, "env").([]any) {
		name := fmt.Sprint(dig(e, "name"))
		env[name] = fmt.Sprint(dig(e, "value"))
		if ref := dig(e, "valueFrom", "secretKeyRef"); ref != nil {
			secretRefs++
			env[name] = "from-secret"
		}
	}
	if secretRefs == 0 {
		t.Error("no secretKeyRef: secrets (the PostgreSQL DSN) must come from a Secret")
	}
	cfgYAML, _ := dig(objs["ConfigMap"][0], "data", "crmhub.yaml").(string)
	for _, v := range requiredVars(cfgYAML) {
		if _, ok := env[v]; !ok {
			t.Errorf("the chart's crmhub.yaml needs ${%s}; the deployment does not set it", v)
		}
	}
	env["CRMHUB_POSTGRES_DSN"] = "postgres://crmhub@db:5432/crmhub"
	cfg := parseConfig(t, "helm configmap crmhub.yaml", []byte(cfgYAML), env)
	if cfg.Store.Driver != "postgres" || !strings.HasSuffix(cfg.HTTP.Listen, ":8080") || len(cfg.Kafka.Brokers) == 0 {
		t.Errorf("chart config: store %s, listen %s, brokers %v", cfg.Store.Driver, cfg.HTTP.Listen, cfg.Kafka.Brokers)
	}
	// The hub's memory budget stays inside the pod's limit, with room for
	// what the budget does not bound (goroutine stacks, SQLite's slack).
	if lim := fmt.Sprint(dig(c, "resources", "limits", "memory")); !strings.HasSuffix(lim, "Mi") && !strings.HasSuffix(lim, "Gi") {
		t.Errorf("limits.memory %s: want Mi or Gi", lim)
	} else {
		n, _ := strconv.Atoi(lim[:len(lim)-2])
		if strings.HasSuffix(lim, "Gi") {
			n *= 1024
		}
		if cfg.MemoryMB <= 0 || cfg.MemoryMB*100 > n*80 {
			t.Errorf("config memory_mb %d with a pod limit of %s: set memory_mb to at most 80%% of the limit", cfg.MemoryMB, lim)
		}
	}
	if mount := dig(c, "volumeMounts", 0, "mountPath"); mount != "/etc/crmhub/crmhub.yaml" {
		t.Errorf("config mounted at %v", mount)
	}
	if args := fmt.Sprint(dig(c, "args")); args != "[run --config /etc/crmhub/crmhub.yaml --role all]" {
		t.Errorf("args %s", args)
	}
	// One release per tier: the role reaches the pods' arguments and is
	// one `crmhub run --role` accepts.
	tier := renderChart(t, "helm/crmhub", func(v map[string]any) { v["role"] = "apply" })
	targs, _ := dig(tier["Deployment"][0], "spec", "template", "spec", "containers", 0, "args").([]any)
	if len(targs) != 5 || targs[4] != "apply" {
		t.Errorf("args with role=apply: %v", targs)
	} else if _, err := config.ParseRoles(fmt.Sprint(targs[4])); err != nil {
		t.Error(err)
	}
	if dig(objs["Service"][0], "spec", "ports", 0, "targetPort") != "http" {
		t.Error("service does not target the http port")
	}

	// Optional parts switched on.
	objs = renderChart(t, "helm/crmhub", func(v map[string]any) {
		v["serviceMonitor"].(map[string]any)["enabled"] = true
		v["kafkaTLSSecret"] = "kafka-ca"
		v["mappingsConfigMap"] = "crmhub-mappings"
	})
	if len(objs["ServiceMonitor"]) != 1 || dig(objs["ServiceMonitor"][0], "spec", "endpoints", 0, "path") != "/metrics" {
		t.Errorf("ServiceMonitor: %v", objs["ServiceMonitor"])
	}
	vols := fmt.Sprint(dig(objs["Deployment"][0], "spec", "template", "spec", "volumes"))
	if !strings.Contains(vols, "kafka-ca") || !strings.Contains(vols, "crmhub-mappings") {
		t.Errorf("TLS secret and mappings not mounted: %s", vols)
	}
}
