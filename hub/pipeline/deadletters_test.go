package pipeline_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/connectors/file"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/store/deadletters"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// The broken mapping reads the "since" column with the wrong layout, so
// every customer that has one fails; the fix reads it right.
const (
	brokenMapping = `mapping: erp_customers
version: 1
source: {system: erp, entity: customers}
target: {entity: customer, schema: v1}
fields:
  kind: '"person"'
  family_name: trim(name)
  created_at: timestamp(since, "YYYY-MM-DD")
`
	fixedMapping = `mapping: erp_customers
version: 2
source: {system: erp, entity: customers}
target: {entity: customer, schema: v1}
fields:
  kind: '"person"'
  family_name: trim(name)
  created_at: timestamp(since, "DD.MM.YYYY")
`
	// Six lines: two map with either mapping (no "since"), three fail with
	// the broken one, one is not a CSV record at all (a source error).
	customersCSV = `id,name,since,changed
K1,Schmidt,,2026-03-01
K2,Meyer,01.02.2020,2026-03-01
K3,Weber,15.06.2019,2026-03-01
K4,Wagner,,2026-03-01
K5,Becker,31.12.2021,2026-03-01
K6,"Hoffmann
`
)

type rig struct {
	bus    *bus.Bus
	store  *store.Store
	dl     *deadletters.Store
	maps   *mapping.Set
	mapDir string
	reg    *prometheus.Registry
	topics hub.Topics
	svc    *pipeline.DeadLetterService
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{reg: prometheus.NewRegistry(), mapDir: t.TempDir()}
	var err error
	r.bus, err = bus.Open(ctx, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "dlq", Partitions: 2}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.bus.Close() })
	r.topics = r.bus.Topics()
	r.store, err = store.Open(ctx, store.DriverSQLite, filepath.Join(t.TempDir(), "hub.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.store.Close() })
	r.dl = deadletters.New(r.store.DB())
	writeFile(t, filepath.Join(r.mapDir, "erp_customers.yaml"), brokenMapping)
	if r.maps, err = mapping.LoadDir(r.mapDir); err != nil {
		t.Fatal(err)
	}
	m, err := pipeline.NewDeadLetterMetrics(r.reg, r.dl)
	if err != nil {
		t.Fatal(err)
	}
	r.svc = &pipeline.DeadLetterService{Store: r.dl, Mappings: r.maps, Publisher: r.bus, Topics: r.topics, Metrics: m}
	return r
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run starts fn in a goroutine stopped at the end of the test.
func run(t *testing.T, name string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := fn(ctx); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if m.Gauge != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func (r *rig) counts(t *testing.T) (applied int64, open map[string]int64) {
	t.Helper()
	ctx := context.Background()
	by, err := r.store.CountBySource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	open, err = r.dl.OpenDeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return by["erp/customers"], open
}

// A mapping fixed between failure and replay: the real file connector
// reads a CSV, the broken mapping dead-letters three records, the indexer
// stores them from the topic, the mapping file is fixed and reloaded, the
// replay publishes them and the applier stores them. Every source line is
// accounted for before and after.
func TestDeadLettersReplayAfterMappingFix(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	log := slog.New(slog.DiscardHandler)
	metrics := pipeline.NewMetrics(prometheus.NewRegistry())

	src := t.TempDir()
	writeFile(t, filepath.Join(src, "customers_1.csv"), customersCSV)
	run(t, "source", (&pipeline.Source{
		Name: "erp", System: "erp", Source: file.Connector.NewSource(),
		Config: sdk.Config{"dir": src, "stable_for": "0s", "files": []any{map[string]any{
			"pattern": "customers_*.csv", "entity": "customers", "format": "csv", "key": "id",
			"updated_at": "changed", "updated_at_format": "2006-01-02"}}},
		Mappings: r.maps, Publisher: r.bus, Positions: r.store, Topics: r.topics, BatchSize: 100,
		PollInterval: 50 * time.Millisecond, Metrics: metrics, Logger: log,
	}).Run)
	applier := r.bus.NewConsumer("hub", r.topics.AllCanonical())
	run(t, "applier", (&pipeline.Apply{Consumer: applier, Store: r.store, Publisher: r.bus, Topics: r.topics,
		BatchSize: 100, BatchWait: 50 * time.Millisecond, Metrics: metrics, Logger: log}).Run)
	dlq := r.bus.NewConsumer("deadletters", []string{r.topics.DeadLetter()})
	run(t, "indexer", (&pipeline.DeadLetterIndexer{Consumer: dlq, Store: r.dl, BatchWait: 50 * time.Millisecond, Logger: log}).Run)

	eventually(t, "2 applied and 4 dead letters indexed", func() bool {
		applied, open := r.counts(t)
		return applied == 2 && open[hub.ReasonMapping] == 3 && open[hub.ReasonSource] == 1
	})
	if g := gauge(t, r.reg, "crmhub_deadletters_open", map[string]string{"reason_class": hub.ReasonMapping}); g != 3 {
		t.Fatalf("open gauge: %v", g)
	}
	failed, err := r.dl.ListDeadLetters(ctx, hub.DeadLetterFilter{ReasonClass: hub.ReasonMapping})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range failed {
		if e.Field != "created_at" || e.Mapping != "erp_customers" || e.MappingVersion != 1 || len(e.Payload) == 0 ||
			!strings.Contains(e.Reason, "id "+e.SourceID) || strings.Contains(e.Reason, "Meyer") {
			t.Fatalf("dead letter does not say what failed where (or leaks a value): %+v", e)
		}
	}
	srcErr, err := r.dl.ListDeadLetters(ctx, hub.DeadLetterFilter{ReasonClass: hub.ReasonSource})
	if err != nil || len(srcErr) != 1 {
		t.Fatalf("source errors: %v %v", srcErr, err)
	}

	// Before the fix a replay fails again and the entry stays open, with
	// the attempt counted.
	res, err := r.svc.Replay(ctx, failed[0].ID, "anna")
	if err != nil || res.Outcome != hub.ReplayFailed || res.Status != hub.DeadLetterOpen || res.Field != "created_at" {
		t.Fatalf("replay with the broken mapping: %+v %v", res, err)
	}
	if e, _ := r.dl.FindDeadLetter(ctx, failed[0].ID); e.Attempts != 1 || e.Actor != "anna" || e.Status != hub.DeadLetterOpen {
		t.Fatalf("after a failed replay: %+v", e)
	}
	if _, err := r.svc.Replay(ctx, srcErr[0].ID, "anna"); !errors.Is(err, pipeline.ErrNotReplayable) || !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("replaying a source error: %v", err)
	}
	if _, err := r.svc.Replay(ctx, failed[0].ID, ""); !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("replay without actor: %v", err)
	}

	writeFile(t, filepath.Join(r.mapDir, "erp_customers.yaml"), fixedMapping)
	if err := r.maps.Reload(r.mapDir); err != nil {
		t.Fatal(err)
	}
	sum, err := r.svc.ReplayMatching(ctx, hub.DeadLetterFilter{Connector: "erp", SourceEntity: "customers"}, "anna")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Matched != 4 || sum.Published != 3 || sum.NotReplayable != 1 || sum.Failed != 0 {
		t.Fatalf("replay all: %+v", sum)
	}
	eventually(t, "the replayed records applied", func() bool {
		applied, _ := r.counts(t)
		return applied == 5
	})
	for _, e := range failed {
		got, err := r.dl.FindDeadLetter(ctx, e.ID)
		if err != nil || got.Status != hub.DeadLetterReplayed || got.MappingVersion != 2 || got.ClosedAt.IsZero() {
			t.Fatalf("after replay: %+v %v", got, err)
		}
	}
	v, err := r.store.FindCustomers(ctx, hub.CustomerFilter{System: "erp", SourceID: "K2"})
	if err != nil || len(v) != 1 || v[0].Customer.CreatedAt == nil {
		t.Fatalf("replayed customer K2: %+v %v", v, err)
	}

	// A replayed entry is not replayed twice; the source error is resolved
	// by a steward, with a note.
	if _, err := r.svc.Replay(ctx, failed[1].ID, "anna"); !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("second replay: %v", err)
	}
	if _, err := r.svc.Resolve(ctx, srcErr[0].ID, "anna", ""); !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("resolve without note: %v", err)
	}
	if e, err := r.svc.Resolve(ctx, srcErr[0].ID, "anna", "line re-exported by finance"); err != nil || e.Status != hub.DeadLetterResolved {
		t.Fatalf("resolve: %+v %v", e, err)
	}

	// Nothing lost: six lines, five customers stored, one resolved.
	applied, open := r.counts(t)
	var stillOpen int64
	for _, n := range open {
		stillOpen += n
	}
	closed, _ := r.dl.ListDeadLetters(ctx, hub.DeadLetterFilter{})
	if applied != 5 || stillOpen != 0 || len(closed) != 4 {
		t.Fatalf("after: applied %d, open %v, entries %d", applied, open, len(closed))
	}
	if g := gauge(t, r.reg, "crmhub_deadletters_open", map[string]string{"reason_class": hub.ReasonMapping}); g != 0 {
		t.Fatalf("open gauge after replay: %v", g)
	}
	if g := gauge(t, r.reg, "crmhub_deadletters_replayed_total", map[string]string{"reason_class": hub.ReasonMapping, "outcome": hub.ReplayPublished}); g != 3 {
		t.Fatalf("replayed counter: %v", g)
	}

	// Indexing the topic again (a new group, as after losing offsets)
	// stores nothing twice.
	var again int
	var mu sync.Mutex
	run(t, "second indexer", (&pipeline.DeadLetterIndexer{Consumer: r.bus.NewConsumer("deadletters-2", []string{r.topics.DeadLetter()}),
		Store: r.dl, BatchWait: 50 * time.Millisecond, Logger: log, OnIndexed: func(n int) { mu.Lock(); again += n; mu.Unlock() }}).Run)
	time.Sleep(time.Second)
	all, _ := r.dl.ListDeadLetters(ctx, hub.DeadLetterFilter{})
	mu.Lock()
	defer mu.Unlock()
	if again != 0 || len(all) != 4 {
		t.Fatalf("re-indexing stored %d new, %d in all", again, len(all))
	}
}

// A message on the dead-letter topic that is not a dead letter is kept,
// raw, with why, never dropped.
func TestDeadLetterIndexerKeepsUnreadableMessages(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	if err := r.bus.Publish(ctx, bus.Message{Topic: r.topics.DeadLetter(), Key: []byte("x"), Value: []byte("not json")}); err != nil {
		t.Fatal(err)
	}
	run(t, "indexer", (&pipeline.DeadLetterIndexer{Consumer: r.bus.NewConsumer("deadletters", []string{r.topics.DeadLetter()}),
		Store: r.dl, BatchWait: 50 * time.Millisecond}).Run)
	var got []hub.DeadLetterEntry
	eventually(t, "the message indexed", func() bool {
		got, _ = r.dl.ListDeadLetters(ctx, hub.DeadLetterFilter{})
		return len(got) == 1
	})
	e := got[0]
	if e.ReasonClass != pipeline.ReasonUnreadable || string(e.Raw) != "not json" || !strings.Contains(e.Reason, e.ID) ||
		!strings.HasPrefix(e.ID, r.topics.DeadLetter()+":") {
		t.Fatalf("unreadable message: %+v", e)
	}
	if _, err := r.svc.Replay(ctx, e.ID, "anna"); !errors.Is(err, pipeline.ErrNotReplayable) {
		t.Fatalf("replay of an unreadable message: %v", err)
	}
	if g := gauge(t, r.reg, "crmhub_deadletters_open", map[string]string{"reason_class": pipeline.ReasonUnreadable}); g != 1 {
		t.Fatalf("open gauge: %v", g)
	}
}
