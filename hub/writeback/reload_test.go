package writeback

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/mapping"
)

// TestWriterMappingReload: a writer asks Mappings for its reverse mapping
// before every batch, so a reload reaches it without a restart; a reloaded
// set whose mapping of that name is not a reverse one is refused and the
// running mapping kept.
func TestWriterMappingReload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir, db, dest, b, reg, log := newTestERP(ctx, t, "Europe/Berlin", `CREATE TABLE customers (custno TEXT PRIMARY KEY, kind TEXT NOT NULL, phone TEXT, email TEXT, updated_at TEXT NOT NULL);
INSERT INTO customers VALUES ('K1', 'P', '030 111', 'old@example.com', '2020-01-01 00:00:00')`)
	topics := hub.Topics{Prefix: "wb"}
	parse := func(src string) *mapping.Mapping {
		t.Helper()
		m, err := mapping.Parse("erp_wb.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	v1 := parse(reverse)
	// Version 2 writes the e-mail in capitals: visible in the ERP row.
	v2 := parse(strings.NewReplacer("version: 1", "version: 2",
		"emails[0] : nil", "upper(emails[0]) : nil").Replace(reverse))
	// A forward mapping under the same name: not usable for write-back.
	forward := parse(`mapping: erp_wb
version: 3
source: {system: erp, entity: customers}
target: {entity: customer, schema: v1}
unknown_fields: ignore
fields:
  kind: '"person"'
`)
	var current atomic.Pointer[mapping.Mapping]
	current.Store(v1)
	ledger := openLedger(ctx, t, dir)
	metrics := NewMetrics(reg)
	consumer := b.NewConsumer("crmhub-writeback-erp", []string{topics.GoldenChanges()})
	defer consumer.Close()
	w := &Writer{Target: Target{Name: "erp", System: "erp", Entity: "customers", Mapping: v1, Fields: []string{"email", "phone"}, Touch: []string{"updated_at"}},
		Mappings: func(name string) (*mapping.Mapping, bool) {
			m := current.Load()
			return m, m.Name() == name
		},
		Destination: dest, Consumer: consumer, Ledger: ledger, Publisher: b, Topics: topics, Metrics: metrics, Logger: log}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(rctx) }()
	defer func() { stop(); <-done }()

	handled := func() float64 {
		n := testutil.ToFloat64(metrics.Records.WithLabelValues("erp", "written"))
		for _, r := range []string{SkipUnchanged, SkipSystemHas} {
			n += testutil.ToFloat64(metrics.Skipped.WithLabelValues("erp", r))
		}
		return n
	}
	step := func(want float64) string {
		t.Helper()
		if err := b.Publish(ctx, bus.Message{Topic: topics.GoldenChanges(), Key: []byte("g-1"),
			Value: state("g-1", "+4930999", erpRef("K1", "+4930111", "old@example.com"))}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for handled() < want {
			if time.Now().After(deadline) {
				t.Fatalf("writer handled %v states, want %v", handled(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		var email string
		if err := db.QueryRow(`SELECT email FROM customers WHERE custno = 'K1'`).Scan(&email); err != nil {
			t.Fatal(err)
		}
		return email
	}
	written := func() float64 { return testutil.ToFloat64(metrics.Records.WithLabelValues("erp", "written")) }

	if got := step(1); got != "g-1@example.com" || written() != 1 {
		t.Fatalf("v1: K1 email %q, written %v", got, written())
	}
	// The same state under the same mapping: the ledger recognises it.
	if got := step(2); got != "g-1@example.com" || written() != 1 {
		t.Fatalf("v1 again: K1 email %q, written %v", got, written())
	}
	// Reload: the same state now maps to other values and is written.
	current.Store(v2)
	if got := step(3); got != "G-1@EXAMPLE.COM" || written() != 2 {
		t.Fatalf("after reload to v2: K1 email %q, written %v", got, written())
	}
	if w.Target.Mapping.Version() != 2 {
		t.Errorf("writer runs version %d, want 2", w.Target.Mapping.Version())
	}
	// A reload whose mapping of this name is forward-only is refused: v2 stays.
	current.Store(forward)
	if got := step(4); got != "G-1@EXAMPLE.COM" || written() != 2 {
		t.Fatalf("after a refused reload: K1 email %q, written %v", got, written())
	}
	if w.Target.Mapping != v2 {
		t.Errorf("writer runs version %d after a refused reload, want 2", w.Target.Mapping.Version())
	}
}
