package main

import (
	"os"
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

// A small sync through the bench as `crmhub bench sync` runs it: every
// record ends applied or dead-lettered, the figures settle after the last
// record, the stream catches up after that, and a server's CPU (here
// this test's own process, which runs the hub) is counted over the same
// spans when asked.
func TestSyncBenchSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole hub sync")
	}
	r, err := runSyncBench(t.Context(), syncBenchOpts{people: 150, seed: 3, inProcess: true, store: "sqlite",
		value: "deferred", timeout: 3 * time.Minute, serverPID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Records == 0 || r.Golden == 0 || r.Identity.F1 < 0.9 {
		t.Fatalf("synced %d records into %d golden customers, F1 %.3f", r.Records, r.Golden, r.Identity.F1)
	}
	// Settled is reported when marks were pending at the last record
	// (the recompute waits value.delay for them; a slow poll could miss
	// them), and then falls between applied and published.
	settled, settledCPU, settledSrv := r.Seconds, r.CPUSeconds, r.ServerCPUSeconds
	if r.PendingAtSynced > 0 {
		settled, settledCPU, settledSrv = r.SettledSeconds, r.SettledCPUSeconds, r.SettledServerCPUSeconds
	}
	if !(settled >= r.Seconds && r.PublishedSeconds >= settled) {
		t.Errorf("applied %.2f s, settled %.2f s, published %.2f s: out of order", r.Seconds, settled, r.PublishedSeconds)
	}
	if !(settledCPU >= r.CPUSeconds && r.PublishedCPUSeconds >= settledCPU) {
		t.Errorf("CPU applied %.2f, settled %.2f, published %.2f: out of order", r.CPUSeconds, settledCPU, r.PublishedCPUSeconds)
	}
	if r.ServerPID != os.Getpid() || r.ServerCPUSeconds <= 0 ||
		!(settledSrv >= r.ServerCPUSeconds && r.PublishedServerCPUSeconds >= settledSrv) {
		t.Errorf("server pid %d CPU %.2f / %.2f / %.2f: want this process's, growing", r.ServerPID,
			r.ServerCPUSeconds, r.SettledServerCPUSeconds, r.PublishedServerCPUSeconds)
	}
}
