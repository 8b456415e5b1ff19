package deploy_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub/testenv"
)

// tool finds a binary of Debian's prometheus package; without it the test
// skips, or fails where services are required (CI).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := name + " is not installed (apt-get install prometheus); set CRMHUB_REQUIRE_SERVICES=1 to make this a failure"
		if testenv.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

func runTool(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAlertRules runs promtool on the alert rules: syntax and templates
// (check rules), then the unit tests in crmhub-alerts_test.yml, where every
// alert has a case that fires and one that must not.
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	out := runTool(t, "prometheus", promtool, "check", "rules", "crmhub-alerts.yml")
	if n := len(alertExprs(t)); !strings.Contains(out, "SUCCESS") || n < 8 {
		t.Errorf("check rules: %d alerts\n%s", n, out)
	}
	out = runTool(t, "prometheus", promtool, "test", "rules", "crmhub-alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("test rules:\n%s", out)
	}
}

// TestPrometheusConfig checks the compose scrape config, rule files included.
func TestPrometheusConfig(t *testing.T) {
	promtool := tool(t, "promtool")
	out := runTool(t, "prometheus", promtool, "check", "config", "prometheus.yml")
	if !strings.Contains(out, "1 rule files found") {
		t.Errorf("prometheus.yml does not load the alert rules:\n%s", out)
	}
}
