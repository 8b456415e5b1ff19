package server

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/crmhub/crmhub/hub/config"
)

// Go's memory limit follows memory_mb only for a hub that owns its
// process and only when GOMEMLIMIT does not set it.
func TestMemoryBudgetSetsGoLimit(t *testing.T) {
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		os.Unsetenv("GOMEMLIMIT")
		t.Cleanup(func() { os.Setenv("GOMEMLIMIT", v) })
	}
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name   string
		mb     int
		own    bool
		env    string
		wantMB int64 // 0: the limit stays as it was
	}{
		{"shared process", 384, false, "", 0},
		{"own process", 384, true, "", 192},
		{"own process, larger budget", 1024, true, "", 512},
		{"GOMEMLIMIT wins", 384, true, "300MiB", 0},
		{"no budget", -1, true, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			if tt.env != "" {
				t.Setenv("GOMEMLIMIT", tt.env)
			}
			applyMemoryBudget(&config.Config{MemoryMB: tt.mb}, tt.own, log)
			got := debug.SetMemoryLimit(-1)
			want := int64(math.MaxInt64)
			if tt.wantMB > 0 {
				want = tt.wantMB << 20
			}
			if got != want {
				t.Errorf("Go memory limit %d, want %d", got, want)
			}
		})
	}
}

// The collector runs less often only in a process of the connectors role
// alone that owns its process, with the limit from memory_mb and no GOGC.
func TestMemoryBudgetGCPercent(t *testing.T) {
	for _, k := range []string{"GOMEMLIMIT", "GOGC"} {
		if v, ok := os.LookupEnv(k); ok {
			os.Unsetenv(k)
			t.Cleanup(func() { os.Setenv(k, v) })
		}
	}
	beforeLimit := debug.SetMemoryLimit(-1)
	beforeGC := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetMemoryLimit(beforeLimit); debug.SetGCPercent(beforeGC) })
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name  string
		roles []string
		own   bool
		mb    int
		gogc  string
		want  int
	}{
		{"connectors alone", []string{config.RoleConnectors}, true, 384, "", connectorsGCPercent},
		{"connectors and apply", []string{config.RoleConnectors, config.RoleApply}, true, 384, "", 100},
		{"all", []string{config.RoleAll}, true, 384, "", 100},
		{"no roles: all", nil, true, 384, "", 100},
		{"apply alone", []string{config.RoleApply}, true, 384, "", 100},
		{"shared process", []string{config.RoleConnectors}, false, 384, "", 100},
		{"no budget, no limit", []string{config.RoleConnectors}, true, -1, "", 100},
		{"GOGC set", []string{config.RoleConnectors}, true, 384, "150", 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			if tt.gogc != "" {
				t.Setenv("GOGC", tt.gogc)
			}
			applyMemoryBudget(&config.Config{MemoryMB: tt.mb, Roles: tt.roles}, tt.own, log)
			if got := debug.SetGCPercent(100); got != tt.want {
				t.Errorf("GC percent %d, want %d", got, tt.want)
			}
		})
	}
}
