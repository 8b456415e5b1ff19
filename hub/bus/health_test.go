package bus_test

import (
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/crmhub/crmhub/hub/bus"
)

// startCluster runs a kfake broker on addr with dataDir, as `crmhub
// broker` does in its own process.
func startCluster(t *testing.T, addr, dataDir string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dataDir),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }))
	if err != nil {
		t.Fatalf("start broker on %s: %v", addr, err)
	}
	return c
}

// A broker that goes away is seen by Ping (so /readyz turns 503 with the
// reason) and by crmhub_bus_up, and a broker back on the same address is
// seen again, without reopening the bus. Before, Ping asked kafka-go's
// client, which answers metadata requests from its cache and keeps the
// last cluster layout when refreshing fails: Ping said ready with every
// broker gone.
func TestPingSeesBrokerAwayAndBack(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cluster := startCluster(t, addr, filepath.Join(dir, "broker"))
	defer func() { cluster.Close() }()

	reg := prometheus.NewRegistry()
	b, err := bus.Open(ctx, bus.Config{Brokers: []string{addr}, Partitions: 1, HealthInterval: 100 * time.Millisecond}, reg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	up := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		v, ok := gaugeValue(mfs, "crmhub_bus_up", nil)
		if !ok {
			t.Fatal("crmhub_bus_up is not registered")
		}
		return v
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("ping with the broker up: %v", err)
	}
	if v := up(); v != 1 {
		t.Errorf("crmhub_bus_up = %v with the broker up", v)
	}

	cluster.Close()
	err = b.Ping(ctx)
	t.Logf("ping with the broker away: %v", err)
	if !errors.Is(err, bus.ErrUnreachable) {
		t.Fatalf("ping with the broker away: %v, want ErrUnreachable", err)
	}
	if v := up(); v != 0 {
		t.Errorf("crmhub_bus_up = %v with the broker away", v)
	}

	// Back on the same address and data dir: the bus sees it by itself
	// (the health probe), and Ping says so.
	cluster = startCluster(t, addr, filepath.Join(dir, "broker"))
	waitBus(t, "crmhub_bus_up 1 again", func() bool { return up() == 1 })
	if err := b.Ping(ctx); err != nil {
		t.Errorf("ping with the broker back: %v", err)
	}
	if err := b.Publish(ctx, bus.Message{Topic: b.Topics().DeadLetter(), Value: []byte("{}")}); err != nil {
		t.Errorf("publish with the broker back: %v", err)
	}
}

// The probe alone keeps crmhub_bus_up true without anyone calling Ping
// (no /readyz traffic): it turns 0 while the broker is away.
func TestBusUpWithoutPing(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cluster := startCluster(t, addr, filepath.Join(dir, "broker"))
	reg := prometheus.NewRegistry()
	b, err := bus.Open(testCtx(t, time.Minute), bus.Config{Brokers: []string{addr}, Partitions: 1, HealthInterval: 100 * time.Millisecond}, reg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	gauge := func() float64 {
		mfs, _ := reg.Gather()
		v, _ := gaugeValue(mfs, "crmhub_bus_up", nil)
		return v
	}
	waitBus(t, "crmhub_bus_up 1", func() bool { return gauge() == 1 })
	cluster.Close()
	waitBus(t, "crmhub_bus_up 0 with the broker away", func() bool { return gauge() == 0 })
}

func waitBus(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
