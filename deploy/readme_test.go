package deploy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeAlertTable: every alert rule has its row in README.md's alert
// table, and the table names no rule that does not exist.
func TestReadmeAlertTable(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\| (Crmhub[A-Za-z]+) \|`).FindAllStringSubmatch(string(b), -1) {
		rows[m[1]] = true
	}
	rules := alertExprs(t)
	for name := range rules {
		if !rows[name] {
			t.Errorf("alert %s has no row in README.md's alert table", name)
		}
	}
	for name := range rows {
		if _, ok := rules[name]; !ok {
			t.Errorf("README.md's alert table names %s, which prometheus/crmhub-alerts.yml does not define", name)
		}
	}
	if strings.Contains(string(b), "does not export that metric") {
		t.Error("README.md says a metric is not exported; TestDashboardMetricsExported checks what is")
	}
}
