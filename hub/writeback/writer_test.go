package writeback

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	sqlconn "github.com/crmhub/crmhub/connectors/sql"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/store/ledger"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

const reverse = `mapping: erp_wb
version: 1
source: {entity: customer}
target: {system: erp, entity: customers}
fields:
  email: 'emails != nil && len(emails) > 0 ? emails[0] : nil'
  phone: 'phones != nil && len(phones) > 0 ? phones[0] : nil'
  updated_at: format_time(updated_at, "YYYY-MM-DD HH:mm:ss", "Europe/Berlin")
`

func state(id string, phone string, sources ...hub.SourceRecordRef) []byte {
	at := time.Date(2024, 7, 1, 12, 30, 0, 0, time.UTC)
	st := hub.GoldenState{ID: id, Customer: hub.Customer{Kind: "person", Emails: []string{id + "@example.com"}, Phones: []string{phone}, UpdatedAt: &at}, Sources: sources, UpdatedAt: at}
	b, _ := json.Marshal(st)
	return b
}

func erpRef(id, phone, email string) hub.SourceRecordRef {
	return hub.SourceRecordRef{System: "erp", SourceEntity: "customers", SourceID: id, Customer: hub.Customer{Phones: []string{phone}, Emails: []string{email}}}
}

// newTestERP gives a writer test a real SQLite ERP customers table (made by
// schema) behind the sql destination, and an embedded Kafka broker; all are
// closed when the test ends. tz is the destination's time zone ("" for the
// default).
func newTestERP(ctx context.Context, t *testing.T, tz, schema string) (dir string, db *sql.DB, dest sdk.Destination, b *bus.Bus, reg *prometheus.Registry, log *slog.Logger) {
	t.Helper()
	dir = t.TempDir()
	erpPath := filepath.Join(dir, "erp.db")
	db, err := sql.Open("sqlite", erpPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	settings := sdk.Config{"driver": "sqlite", "dsn": "file:" + erpPath,
		"entities": []any{map[string]any{"name": "customers", "table": "customers", "key": "custno", "columns": []any{"email", "phone", "updated_at"}}}}
	if tz != "" {
		settings["timezone"] = tz
	}
	cfg, err := sqlconn.Connector.Spec.Validate(settings)
	if err != nil {
		t.Fatal(err)
	}
	dest = sqlconn.Connector.NewDestination()
	if err := dest.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := dest.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dest.Teardown(context.Background()) })
	reg = prometheus.NewRegistry()
	log = slog.New(slog.DiscardHandler)
	b, err = bus.Open(ctx, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "wb", Partitions: 1}, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return dir, db, dest, b, reg, log
}

// openLedger gives a test the write-back ledger of a hub store on a fresh
// SQLite file in dir, closed when the test ends.
func openLedger(ctx context.Context, t *testing.T, dir string) Ledger {
	t.Helper()
	s, err := store.Open(ctx, store.DriverSQLite, filepath.Join(dir, "hub.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return ledger.New(s.DB())
}

// TestWriter runs a target against a real SQLite ERP table through the sql
// destination, fed by the embedded Kafka broker.
func TestWriter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir, db, dest, b, reg, log := newTestERP(ctx, t, "Europe/Berlin", `CREATE TABLE customers (custno TEXT PRIMARY KEY, kind TEXT NOT NULL, phone TEXT, email TEXT, updated_at TEXT NOT NULL);
INSERT INTO customers VALUES ('K1', 'P', '030 111', 'old@example.com', '2020-01-01 00:00:00'), ('K2', 'P', '+4930222', 'g-2@example.com', '2020-01-01 00:00:00');`)
	topics := hub.Topics{Prefix: "wb"}
	m, err := mapping.Parse("erp_wb.yaml", []byte(reverse))
	if err != nil {
		t.Fatal(err)
	}
	ledger := openLedger(ctx, t, dir)
	metrics := NewMetrics(reg)
	var mu sync.Mutex
	var writes []sdk.Record
	consumer := b.NewConsumer("crmhub-writeback-erp", []string{topics.GoldenChanges()})
	defer consumer.Close()
	w := &Writer{Target: Target{Name: "erp", System: "erp", Entity: "customers", Mapping: m, Fields: []string{"email", "phone"}, Touch: []string{"updated_at"}},
		Destination: dest, Consumer: consumer, Ledger: ledger, Publisher: b, Topics: topics, Metrics: metrics, Logger: log,
		OnBatch: func(r []sdk.Record) { mu.Lock(); writes = append(writes, r...); mu.Unlock() }}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(rctx) }()
	defer func() { stop(); <-done }()

	publish := func(key string, v []byte) {
		t.Helper()
		if err := b.Publish(ctx, bus.Message{Topic: topics.GoldenChanges(), Key: []byte(key), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	seen := func() float64 {
		var n float64
		for _, r := range []string{"written", "failed"} {
			n += testutil.ToFloat64(metrics.Records.WithLabelValues("erp", r))
		}
		for _, r := range []string{SkipUnchanged, SkipSystemHas, SkipNotInTarget, SkipNoFields, SkipMapping} {
			n += testutil.ToFloat64(metrics.Skipped.WithLabelValues("erp", r))
		}
		return n
	}
	waitSeen := func(n float64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for seen() < n {
			if time.Now().After(deadline) {
				t.Fatalf("writer handled %v states, want %v", seen(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// g-1: the ERP has an older phone: written, with updated_at touched.
	publish("g-1", state("g-1", "+4930999", erpRef("K1", "+4930111", "old@example.com")))
	waitSeen(1)
	var phone, email, upd string
	if err := db.QueryRow(`SELECT phone, email, updated_at FROM customers WHERE custno = 'K1'`).Scan(&phone, &email, &upd); err != nil {
		t.Fatal(err)
	}
	if phone != "+4930999" || email != "g-1@example.com" || upd != "2024-07-01 14:30:00" {
		t.Errorf("K1 = %s %s %s", phone, email, upd)
	}
	// The same state again (an echo): the ledger knows it.
	publish("g-1", state("g-1", "+4930999", erpRef("K1", "+4930999", "g-1@example.com")))
	waitSeen(2)
	// g-2: the ERP itself holds these values (the edit was made there).
	publish("g-2", state("g-2", "+4930222", erpRef("K2", "+4930222", "g-2@example.com")))
	waitSeen(3)
	// g-3: no ERP record and create is off.
	publish("g-3", state("g-3", "+4930333", hub.SourceRecordRef{System: "crm", SourceEntity: "contacts", SourceID: "C3"}))
	waitSeen(4)
	// A tombstone (merged id) is not a state to write.
	publish("g-9", nil)
	// Nor is a value change (op value: the stage, segment or ABC class
	// moved, no golden field), even one whose phone the ERP lacks; the
	// state after it (one partition: in order) is handled, the ledger
	// knowing it (unchanged).
	if err := b.Publish(ctx, bus.Message{Topic: topics.GoldenChanges(), Key: []byte("g-1"), Headers: map[string]string{"op": hub.ChangeValue},
		Value: state("g-1", "+4930777", erpRef("K1", "+4930999", "g-1@example.com"))}); err != nil {
		t.Fatal(err)
	}
	publish("g-2", state("g-2", "+4930222", erpRef("K2", "+4930222", "g-2@example.com")))
	waitSeen(5)
	if err := db.QueryRow(`SELECT phone FROM customers WHERE custno = 'K1'`).Scan(&phone); err != nil || phone != "+4930999" {
		t.Errorf("K1 phone = %q, %v: a value change was written", phone, err)
	}

	for reason, want := range map[string]float64{SkipUnchanged: 2, SkipSystemHas: 1, SkipNotInTarget: 1} {
		if got := testutil.ToFloat64(metrics.Skipped.WithLabelValues("erp", reason)); got != want {
			t.Errorf("skipped{%s} = %v, want %v", reason, got, want)
		}
	}
	if got := testutil.ToFloat64(metrics.Records.WithLabelValues("erp", "written")); got != 1 {
		t.Errorf("written = %v, want 1", got)
	}
	mu.Lock()
	if len(writes) != 1 || writes[0].ID != "K1" {
		t.Errorf("writes = %+v, want one to K1", writes)
	}
	mu.Unlock()
	if err := db.QueryRow(`SELECT phone FROM customers WHERE custno = 'K2'`).Scan(&phone); err != nil || phone != "+4930222" {
		t.Errorf("K2 phone = %q, %v", phone, err)
	}
}

// TestWriterDeadLetters: a record the destination refuses goes to the
// dead-letter topic with reason class writeback_error.
func TestWriterDeadLetters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir, _, dest, b, reg, log := newTestERP(ctx, t, "", `CREATE TABLE customers (custno TEXT PRIMARY KEY, kind TEXT NOT NULL, phone TEXT, email TEXT, updated_at TEXT NOT NULL)`)
	topics := hub.Topics{Prefix: "wb"}
	m, _ := mapping.Parse("erp_wb.yaml", []byte(reverse))
	ledger := openLedger(ctx, t, dir)
	metrics := NewMetrics(reg)
	consumer := b.NewConsumer("crmhub-writeback-erp", []string{topics.GoldenChanges()})
	defer consumer.Close()
	// create: a new ERP row without the NOT NULL kind column is refused.
	w := &Writer{Target: Target{Name: "erp", System: "erp", Entity: "customers", Mapping: m, Fields: []string{"email", "phone"}, Touch: []string{"updated_at"}, Create: true},
		Destination: dest, Consumer: consumer, Ledger: ledger, Publisher: b, Topics: topics, Metrics: metrics, Logger: log}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(rctx) }()
	defer func() { stop(); <-done }()
	if err := b.Publish(ctx, bus.Message{Topic: topics.GoldenChanges(), Key: []byte("g-7"), Value: state("g-7", "+4930777")}); err != nil {
		t.Fatal(err)
	}
	dl := b.NewConsumer("test-dl", []string{topics.DeadLetter()})
	defer dl.Close()
	msgs, err := dl.Fetch(ctx, 1, 20*time.Second)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("no dead letter: %v", err)
	}
	var d hub.DeadLetter
	if err := json.Unmarshal(msgs[0].Value, &d); err != nil {
		t.Fatal(err)
	}
	if d.ReasonClass != ReasonWriteback || d.SourceID != "g-7" || d.Meta["golden_id"] != "g-7" || d.Reason == "" {
		t.Errorf("dead letter = %+v", d)
	}
	if got := testutil.ToFloat64(metrics.Records.WithLabelValues("erp", "failed")); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
}

// failingStates is a store whose golden-state read fails.
type failingStates struct{ calls int }

func (f *failingStates) GoldenStates(context.Context, []string) (map[string]*hub.GoldenCustomer, error) {
	f.calls++
	return nil, errors.New("store unavailable")
}

// A conflict retry whose state read fails waits for its delay again: due
// at once, the writer would spin on the read for as long as the store fails.
func TestConflictRetryKeepsDelayWhenStoreFails(t *testing.T) {
	states := &failingStates{}
	w := &Writer{Target: Target{Name: "erp"}, States: states}
	now := time.Now()
	w.conflicts = map[string]*conflict{"g1": {next: now, delay: 4 * time.Second}} // due now
	if err := w.retryConflicts(context.Background(), now); err == nil {
		t.Fatal("retry with a failing store: no error")
	}
	if states.calls != 1 {
		t.Fatalf("state reads = %d, want 1", states.calls)
	}
	at, ok := w.nextRetry()
	if !ok || !at.Equal(now.Add(4*time.Second)) {
		t.Fatalf("next retry = %v %v, want %v (the same delay after the failed attempt)", at, ok, now.Add(4*time.Second))
	}
	if err := w.retryConflicts(context.Background(), now.Add(time.Second)); err != nil || states.calls != 1 {
		t.Fatalf("a retry not yet due read the store: calls %d, err %v", states.calls, err)
	}
}
