package pipeline_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/testenv"
)

// A store that cannot take writes for a reason that is not the records'
// (here: PostgreSQL tables locked by another session past lock_timeout)
// pauses the applier: it reports why, raises crmhub_hub_applier_paused,
// dead-letters nothing, and applies everything by itself once the lock is
// gone. Before, every record of the batch became an apply_error dead
// letter.
func TestApplierPausesWhileStoreRefusesWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := testenv.Postgres(t)
	st, err := store.Open(ctx, store.DriverPostgres, dsn+"&lock_timeout=300", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := bus.Open(ctx, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "pause", Partitions: 1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// Another session holds the records table.
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	conn, err := admin.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN; LOCK TABLE records IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	var evs []hub.Envelope
	for i := range 3 {
		e := hub.Envelope{System: "erp", SourceEntity: "customers", SourceID: fmt.Sprintf("K%d", i), Entity: hub.EntityCustomer,
			Op: hub.OpUpsert, SourceUpdatedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), SchemaVersion: hub.SchemaVersion,
			Connector: "erp", Data: json.RawMessage(fmt.Sprintf(`{"kind":"person","family_name":"N%d","emails":["p%d@example.de"]}`, i, i))}
		e.ComputeEventID()
		evs = append(evs, e)
	}
	a, metrics, stop := runApplier(ctx, t, b, st, "pause-hub", evs)
	defer stop()

	waitUntil(t, "the applier to pause", func() bool { return a.Paused() != nil })
	if g := testutil.ToFloat64(metrics.ApplierPaused); g != 1 {
		t.Errorf("crmhub_hub_applier_paused = %v while paused", g)
	}
	t.Logf("paused: %v", a.Paused())
	time.Sleep(time.Second) // a few retries while locked
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "every record applied", func() bool {
		c, err := st.Counts(ctx)
		return err == nil && c.SourceRecords == 3
	})
	resumedRefusingNothing(ctx, t, a, metrics, b, "pause-dlq", "while the store was locked")
}

// runApplier publishes evs as canonical customer messages and runs an
// applier of consumer group group over them into st until stop, which
// waits for it to end (deferred before the bus closes).
func runApplier(ctx context.Context, t *testing.T, b *bus.Bus, st *store.Store, group string, evs []hub.Envelope) (a *pipeline.Apply, metrics *pipeline.Metrics, stop func()) {
	t.Helper()
	topics := b.Topics()
	var msgs []bus.Message
	for _, e := range evs {
		v, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, bus.Message{Topic: topics.Canonical(hub.EntityCustomer), Key: []byte(e.SourceID), Value: v})
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	metrics = pipeline.NewMetrics(prometheus.NewRegistry())
	a = &pipeline.Apply{Consumer: b.NewConsumer(group, topics.AllCanonical()), Store: st, Publisher: b, Topics: topics,
		BatchSize: 10, Metrics: metrics, Logger: slog.New(slog.DiscardHandler)}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	return a, metrics, func() { cancel(); <-done }
}

// resumedRefusingNothing waits for a paused applier to resume and checks
// that the pause cost no record: the paused gauge is down again, nothing
// was refused, and the dead-letter topic (read as group) is empty. while
// names the fault in the errors.
func resumedRefusingNothing(ctx context.Context, t *testing.T, a *pipeline.Apply, metrics *pipeline.Metrics, b *bus.Bus, group, while string) {
	t.Helper()
	waitUntil(t, "the applier to resume", func() bool { return a.Paused() == nil })
	if g := testutil.ToFloat64(metrics.ApplierPaused); g != 0 {
		t.Errorf("crmhub_hub_applier_paused = %v after resuming", g)
	}
	if n := testutil.ToFloat64(metrics.ApplyError.WithLabelValues("refused")); n != 0 {
		t.Errorf("%v records refused (dead-lettered) %s", n, while)
	}
	dlq := b.NewConsumer(group, []string{b.Topics().DeadLetter()})
	defer dlq.Close()
	fctx, fcancel := context.WithTimeout(ctx, 3*time.Second)
	defer fcancel()
	if got, _ := dlq.Fetch(fctx, 10, time.Second); len(got) != 0 {
		t.Errorf("%d dead letters %s, want none", len(got), while)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
