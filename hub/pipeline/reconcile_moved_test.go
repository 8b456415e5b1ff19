package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	sqlconn "github.com/crmhub/crmhub/connectors/sql"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/plugins/host"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// A row updated in the source with an updated_at behind the connector's
// position (a writer that set an old time, far outside the overlap window)
// is never read by polling. Reconciliation names it (moved_unread, with a
// metric) and has the source read it again, so the hub gets the change;
// the next round finds nothing. With NoReread it is named only.
func TestReconcileNamesRowsMovedBehindThePosition(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	log := slog.New(slog.DiscardHandler)
	dsn, exec := erpSQLite(t, r)
	exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, updated_at TEXT NOT NULL)`)
	for i := 1; i <= 12; i++ {
		exec(`INSERT INTO customers (id, name, updated_at) VALUES (?, ?, ?)`, i, fmt.Sprintf("Name%d", i), fmt.Sprintf("2026-03-01 10:%02d:00", i))
	}
	// Through the host, in process (plugins/host's TestReconcilerPassesThrough
	// carries VersionsBehind and Reread over a plugin process).
	h, err := host.New(host.Options{Builtins: map[string]sdk.Connector{"sql": sqlconn.Connector}, InProcess: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	src, err := h.Source(ctx, "erp", "sql")
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]any{"driver": "sqlite", "dsn": dsn, "batch_size": 5, "entities": []any{
		map[string]any{"name": "customers", "table": "customers", "key": "id", "cursor": "updated_at"}}}
	metrics := pipeline.NewMetrics(prometheus.NewRegistry())
	run(t, "source", (&pipeline.Source{Name: "erp", System: "erp", Source: src, Config: sdk.Config(settings),
		Mappings: r.maps, Publisher: r.bus, Positions: r.store, Topics: r.topics, BatchSize: 100,
		PollInterval: 50 * time.Millisecond, Metrics: metrics, Logger: log}).Run)
	run(t, "applier", (&pipeline.Apply{Consumer: r.bus.NewConsumer("hub", r.topics.AllCanonical()), Store: r.store,
		Publisher: r.bus, Topics: r.topics, BatchSize: 100, BatchWait: 50 * time.Millisecond, Metrics: metrics, Logger: log}).Run)
	named := func(name string) bool {
		v, err := r.store.FindCustomers(ctx, hub.CustomerFilter{Name: name})
		return err == nil && len(v) == 1
	}
	eventually(t, "12 customers in the hub", func() bool {
		n, err := r.store.LiveRecordCount(ctx, "erp", "customers")
		return err == nil && n == 12 && named("Name12")
	})

	reg := prometheus.NewRegistry()
	target := pipeline.ReconcileTarget{Name: "erp", System: "erp", Source: src, Entities: []string{"customers"}}
	quiet := target
	quiet.NoReread = true
	listOnly := &pipeline.Reconciler{Targets: []pipeline.ReconcileTarget{quiet}, Store: r.store, DeadLetters: r.dl, Logger: log}
	rec := &pipeline.Reconciler{Targets: []pipeline.ReconcileTarget{target}, Store: r.store, DeadLetters: r.dl, Registerer: reg, Logger: log}
	result := func(rc *pipeline.Reconciler) hub.ReconcileResult {
		t.Helper()
		if err := rc.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := rc.ReconcileResults(ctx)
		if err != nil || len(res) != 1 || res[0].Error != "" {
			t.Fatalf("results %+v, %v", res, err)
		}
		return res[0]
	}
	// The position (10:12) has been acknowledged once the hub holds row 12.
	eventually(t, "a clean round", func() bool {
		res := result(listOnly)
		return res.MovedUnreadCount == 0 && res.Drift == 0
	})

	// Newer than the version the hub read (10:03), behind the position.
	exec(`UPDATE customers SET name = 'Moved', updated_at = '2026-03-01 10:05:00' WHERE id = 3`)
	exec(`UPDATE customers SET name = 'Name7' WHERE id = 7`) // content only, version unchanged: not named
	time.Sleep(300 * time.Millisecond)                       // polling rounds pass without reading it
	if named("Moved") {
		t.Fatal("polling read a row behind its position; the scenario needs one it cannot read")
	}
	res := result(listOnly)
	if res.MovedUnreadCount != 1 || !slices.Equal(res.MovedUnread, []string{"3"}) || res.Reread {
		t.Fatalf("list only: %+v; want row 3 named, not re-read", res)
	}
	time.Sleep(200 * time.Millisecond)
	if named("Moved") {
		t.Fatal("NoReread re-read the row")
	}

	res = result(rec)
	if res.MovedUnreadCount != 1 || !slices.Equal(res.MovedUnread, []string{"3"}) || !res.Reread {
		t.Fatalf("round: %+v; want row 3 named and re-read", res)
	}
	labels := map[string]string{"connector": "erp", "entity": "customers"}
	if g, c := gauge(t, reg, "crmhub_reconcile_moved_unread_records", labels), gauge(t, reg, "crmhub_reconcile_reread_records_total", labels); g != 1 || c != 1 {
		t.Errorf("metrics: moved_unread %v, reread_total %v; want 1, 1", g, c)
	}
	eventually(t, "the re-read change in the hub", func() bool { return named("Moved") })
	eventually(t, "a clean round after the re-read", func() bool { return result(rec).MovedUnreadCount == 0 })
	if g := gauge(t, reg, "crmhub_reconcile_moved_unread_records", labels); g != 0 {
		t.Errorf("moved_unread gauge after the re-read %v, want 0", g)
	}
}
