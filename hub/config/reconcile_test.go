package config

import (
	"strings"
	"testing"
	"time"
)

func TestReconcileInterval(t *testing.T) {
	tests := []struct {
		name, line string
		want       time.Duration
		wantErr    string
	}{
		{"default", "", 10 * time.Minute, ""},
		{"set", "    reconcile_interval: 90s\n", 90 * time.Second, ""},
		{"off", "    reconcile_interval: 0s\n", 0, ""},
		{"negative", "    reconcile_interval: -1m\n", 0, "connectors[0].reconcile_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "connectors:\n  - name: erp\n    plugin: sql\n" + tt.line
			cfg, err := Parse("f.yaml", []byte(doc), env(nil))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "f.yaml:2") {
					t.Fatalf("want an error at f.yaml:2 naming %s, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Connectors[0].Reconcile(); got != tt.want {
				t.Errorf("reconcile interval = %v, want %v", got, tt.want)
			}
		})
	}
}
