package pipeline_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	sqlconn "github.com/crmhub/crmhub/connectors/sql"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/plugins/host"
	"github.com/crmhub/crmhub/plugins/sdk"
)

const sqlMapping = `mapping: erp_customers
version: 1
source: {system: erp, entity: customers}
target: {entity: customer, schema: v1}
fields:
  kind: '"person"'
  family_name: trim(name)
`

// erpSQLite loads the erp customers mapping into r and creates an empty
// SQLite database: its DSN, and a function running a statement on it.
func erpSQLite(t *testing.T, r *rig) (string, func(q string, args ...any)) {
	t.Helper()
	writeFile(t, filepath.Join(r.mapDir, "erp_customers.yaml"), sqlMapping)
	if err := r.maps.Reload(r.mapDir); err != nil {
		t.Fatal(err)
	}
	dsn := "file:" + filepath.Join(t.TempDir(), "erp.db")
	// The test writes as the ERP would, while the connector polls: a
	// writer waits for the poll's read to end, as any writer of a live
	// SQLite file must (without it an update met SQLITE_BUSY under -race).
	db, err := sql.Open("sqlite", dsn+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dsn, func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// buildSQLPlugin builds testdata/sqlplugin into dir.
func buildSQLPlugin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sqlplugin")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/sqlplugin").CombinedOutput(); err != nil {
		t.Fatalf("build sql plugin: %v\n%s", err, out)
	}
	return bin
}

// The real sql connector in its own plugin process syncs a SQLite table
// into the real store through the embedded broker. Then the table changes
// behind the hub's back: a row is hard-deleted (no soft delete, so the
// connector emits nothing) and two rows are inserted with an updated_at
// older than the connector's cursor (a back-dated import), so it never
// reads them. No error anywhere; reconciliation shows the drift and lists
// all three ids.
func TestReconcileFindsSilentDrift(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	log := slog.New(slog.DiscardHandler)
	dsn, exec := erpSQLite(t, r)
	exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, updated_at TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)`)
	for i := 1; i <= 12; i++ {
		exec(`INSERT INTO customers (id, name, updated_at, deleted) VALUES (?, ?, ?, ?)`,
			i, fmt.Sprintf(" Name%d ", i), fmt.Sprintf("2026-03-01 10:%02d:00", i), map[bool]int{true: 1}[i == 3])
	}

	h, err := host.New(host.Options{
		Builtins: map[string]sdk.Connector{"sql": sqlconn.Connector},
		SelfCmd:  []string{buildSQLPlugin(t), "plugin", "serve"},
		Logger:   log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	src, err := h.Source(ctx, "erp", "sql")
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]any{"driver": "sqlite", "dsn": dsn, "batch_size": 5, "entities": []any{
		map[string]any{"name": "customers", "table": "customers", "key": "id", "cursor": "updated_at", "deleted": "deleted"}}}
	metrics := pipeline.NewMetrics(prometheus.NewRegistry())
	run(t, "source", (&pipeline.Source{Name: "erp", System: "erp", Source: src, Config: sdk.Config(settings),
		Mappings: r.maps, Publisher: r.bus, Positions: r.store, Topics: r.topics, BatchSize: 100,
		PollInterval: 50 * time.Millisecond, Metrics: metrics, Logger: log}).Run)
	run(t, "applier", (&pipeline.Apply{Consumer: r.bus.NewConsumer("hub", r.topics.AllCanonical()), Store: r.store,
		Publisher: r.bus, Topics: r.topics, BatchSize: 100, BatchWait: 50 * time.Millisecond, Metrics: metrics, Logger: log}).Run)

	live := func() int64 {
		n, err := r.store.LiveRecordCount(ctx, "erp", "customers")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	eventually(t, "11 live customers in the hub", func() bool { return live() == 11 })

	entities := pipeline.SettingsEntities(settings)
	if !slices.Equal(entities, []string{"customers"}) {
		t.Fatalf("entities from settings = %v", entities)
	}
	reg := prometheus.NewRegistry()
	rec := &pipeline.Reconciler{Store: r.store, DeadLetters: r.dl, Registerer: reg, Logger: log}
	// Watched as the server does once the runner started the source; a
	// short interval stands for the default 10m.
	run(t, "reconciler", func(ctx context.Context) error {
		return rec.Watch(ctx, pipeline.ReconcileTarget{Name: "erp", System: "erp", Source: src,
			Entities: append(entities, "orders"), Interval: 100 * time.Millisecond})
	})
	labels := map[string]string{"connector": "erp", "entity": "customers"}
	eventually(t, "a round in sync", func() bool {
		return gauge(t, reg, "crmhub_reconcile_source_records", labels) == 11
	})
	if hb, d := gauge(t, reg, "crmhub_reconcile_hub_records", labels), gauge(t, reg, "crmhub_reconcile_drift_records", labels); hb != 11 || d != 0 {
		t.Fatalf("in sync: hub %v, drift %v; want 11, 0", hb, d)
	}

	// Behind the hub's back.
	exec(`DELETE FROM customers WHERE id = 5`)
	exec(`INSERT INTO customers (id, name, updated_at) VALUES (13, 'Late', '2026-01-01 00:00:00'), (14, 'Later', '2026-01-02 00:00:00')`)
	exec(`UPDATE customers SET name = 'Touched', updated_at = '2026-03-02 00:00:00' WHERE id = 7`) // normal traffic goes on
	eventually(t, "the update of 7 applied", func() bool {
		v, err := r.store.FindCustomers(ctx, hub.CustomerFilter{Name: "Touched"})
		return err == nil && len(v) == 1
	})
	eventually(t, "a round that sees the drift", func() bool {
		return gauge(t, reg, "crmhub_reconcile_drift_records", labels) == 1
	})
	if s, hb, d := gauge(t, reg, "crmhub_reconcile_source_records", labels), gauge(t, reg, "crmhub_reconcile_hub_records", labels),
		gauge(t, reg, "crmhub_reconcile_drift_records", labels); s != 12 || hb != 11 || d != 1 {
		t.Fatalf("after drift: source %v, hub %v, drift %v; want 12, 11, 1", s, hb, d)
	}
	if ts := gauge(t, reg, "crmhub_reconcile_last_run_timestamp_seconds", map[string]string{"connector": "erp"}); time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Errorf("last run timestamp %v is not recent", ts)
	}
	res, err := rec.ReconcileResults(ctx)
	if err != nil || len(res) != 2 {
		t.Fatalf("results = %+v, %v; want customers and orders", res, err)
	}
	if c := res[0]; c.Entity != "customers" || c.Drift != 1 || c.Error != "" {
		t.Errorf("customers result = %+v", c)
	}
	if o := res[1]; o.Entity != "orders" || !strings.Contains(o.Error, "not supported") {
		t.Errorf("an entity the connector does not know must say so: %+v", o)
	}
	// Every round meets the unsupported entity; if it counted as an error,
	// each round would raise errors_total. A loaded machine may fail one
	// round for real (a plugin call timing out), so three must all rise.
	errorsTotal := func() float64 {
		return gauge(t, reg, "crmhub_reconcile_errors_total", map[string]string{"connector": "erp"})
	}
	clean := false
	for i := 0; i < 3 && !clean; i++ {
		before := errorsTotal()
		if err := rec.RunOnce(ctx); err != nil {
			t.Logf("round %d: %v", i, err)
		}
		clean = errorsTotal() == before
	}
	if !clean {
		t.Errorf("an unsupported entity is not an error: errors_total rose in three rounds in a row (now %v)", errorsTotal())
	}

	miss, err := rec.MissingIDs(ctx, "erp", "customers", 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(miss.MissingInHub, []string{"13", "14"}) || !slices.Equal(miss.GoneFromSource, []string{"5"}) || miss.Truncated {
		t.Errorf("missing = %+v; want 13, 14 missing in the hub and 5 gone from the source", miss)
	}
	if miss.SourceKeys != 12 || miss.HubKeys != 11 {
		t.Errorf("keys compared: source %d, hub %d; want 12, 11", miss.SourceKeys, miss.HubKeys)
	}
	if short, err := rec.MissingIDs(ctx, "erp", "customers", 1); err != nil || len(short.MissingInHub) != 1 || !short.Truncated {
		t.Errorf("limit 1: %+v, %v; want one id and truncated", short, err)
	}
	if _, err := rec.MissingIDs(ctx, "erp", "invoices", 10); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("unknown entity: want ErrNotFound, got %v", err)
	}
	if _, err := rec.MissingIDs(ctx, "erp", "orders", 10); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("entity the source cannot list: want errors.ErrUnsupported, got %v", err)
	}
}
