package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestResnapshotEndToEnd: a source re-read from the start after
// `connectors resnapshot` hands every row to the hub again, and the hub,
// whose apply is idempotent, changes no golden customer: the change feed
// stays quiet and the customers stay three.
func TestResnapshotEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	dir := t.TempDir()
	tw := startTwoWay(t, dir)
	golden := func() float64 { return tw.metrics(t)["crmhub_hub_golden_customers"] }
	waitFor(t, "the initial sync", 2*time.Minute, func() bool { return golden() == 3 })
	cursor := tw.settle(t, "0")
	cfg := filepath.Join(dir, "crmhub.yaml")

	out, err := exec.Command(binPath, "connectors", "resnapshot", "erp", "customers", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "stop it first") {
		t.Fatalf("resnapshot with the hub running: %v\n%s", err, out)
	}
	tw.stop(t)
	out, err = exec.Command(binPath, "connectors", "resnapshot", "erp", "customers", "--config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "position cleared") {
		t.Fatalf("resnapshot: %v\n%s", err, out)
	}
	out, err = exec.Command(binPath, "connectors", "resnapshot", "erp", "orders", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `no entity "orders"`) {
		t.Fatalf("resnapshot of an unknown entity: %v\n%s", err, out)
	}

	tw.cmd = exec.Command(binPath, "run", "--config", cfg)
	tw.start(t)
	waitFor(t, "the ERP customers read again", 2*time.Minute, func() bool {
		return tw.metrics(t)["crmhub_pipeline_records_read_total"] >= 3
	})
	tw.settle(t, cursor)
	if more, _ := changesSince(t, tw.api, cursor); len(more) != 0 {
		t.Errorf("the re-read changed %d golden customers, want none: %+v", len(more), more)
	}
	if g := golden(); g != 3 {
		t.Errorf("%v golden customers after the re-read, want 3", g)
	}
	tw.stop(t)
}
