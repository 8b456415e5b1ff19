package main

import (
	"testing"
	"time"
)

// The timings line names what was measured, and the settled part only
// when the figures were on.
func TestTimingsLine(t *testing.T) {
	if got, want := timingsLine(46500*time.Millisecond, 46100*time.Millisecond, 0, 0), "bench: synced 46.5 s (46.1 CPU-s)\n"; got != want {
		t.Errorf("figures off: %q, want %q", got, want)
	}
	got := timingsLine(52600*time.Millisecond, 52*time.Second, 57500*time.Millisecond, 57200*time.Millisecond)
	if want := "bench: synced 52.6 s (52.0 CPU-s), value figures settled 57.5 s (57.2 CPU-s)\n"; got != want {
		t.Errorf("deferred: %q, want %q", got, want)
	}
}
