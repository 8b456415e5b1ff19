package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/hub/store"
)

// A backlog on the embedded broker is applied to a real SQLite store in
// coalesced transactions; a record the store refuses and a message that is
// no envelope are dead-lettered; after Run returns, the group's offsets sit
// at the end, so a restarted member gets nothing again.
func TestApplyBacklogCoalescesAndCommitsAfterStore(t *testing.T) {
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "applytest", Partitions: 2}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	st, err := store.Open(ctx, store.DriverSQLite, filepath.Join(t.TempDir(), "hub.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	topics := b.Topics()

	const n = 400
	var msgs []bus.Message
	for i := range n {
		e := hub.Envelope{System: "erp", SourceEntity: "customers", SourceID: fmt.Sprintf("K%d", i), Entity: hub.EntityCustomer,
			Op: hub.OpUpsert, SourceUpdatedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), SchemaVersion: hub.SchemaVersion,
			Connector: "erp", Data: json.RawMessage(fmt.Sprintf(`{"kind":"person","family_name":"N%d","emails":["p%d@example.de"]}`, i, i))}
		if i == 7 {
			e.Data = json.RawMessage(`{"kind":"robot"}`) // valid JSON, refused by the store
		}
		e.ComputeEventID()
		v, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, bus.Message{Topic: topics.Canonical(hub.EntityCustomer), Key: []byte(e.SourceID), Value: v})
	}
	msgs = append(msgs, bus.Message{Topic: topics.Canonical(hub.EntityCustomer), Key: []byte("x"), Value: []byte("not json")})
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var batches []int
	applied := 0
	const batchSize = 20
	a := &pipeline.Apply{Consumer: b.NewConsumer("applytest-hub", topics.AllCanonical()), Store: st, Publisher: b, Topics: topics,
		BatchSize: batchSize, BatchWait: 20 * time.Millisecond, Metrics: pipeline.NewMetrics(prometheus.NewRegistry()),
		Logger: slog.New(slog.DiscardHandler),
		OnApplied: func(events []hub.Envelope, stats hub.ApplyStats) {
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, len(events))
			applied += stats.Applied
		}}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := st.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.SourceRecords == n-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("applied %d of %d customers", c.SourceRecords, n-1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Both bad messages are on the dead-letter topic, naming the record.
	// Read before the applier stops: the store holding every good record
	// says nothing of a bad one fetched after the last of them.
	dl := b.NewConsumer("applytest-dl", []string{topics.DeadLetter()})
	t.Cleanup(func() { dl.Close() })
	fctx, fcancel := context.WithTimeout(ctx, 60*time.Second)
	defer fcancel()
	var dead []hub.DeadLetter
	for len(dead) < 2 {
		got, err := dl.Fetch(fctx, 10, 200*time.Millisecond)
		if err != nil {
			t.Fatalf("dead letters: %v (got %d)", err, len(dead))
		}
		for _, m := range got {
			var d hub.DeadLetter
			if err := json.Unmarshal(m.Value, &d); err != nil {
				t.Fatal(err)
			}
			dead = append(dead, d)
		}
	}
	var refused bool
	for _, d := range dead {
		refused = refused || d.SourceID == "K7" && d.ReasonClass == hub.ReasonApply
	}
	if !refused {
		t.Errorf("no dead letter for the refused record K7: %+v", dead)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	largest := 0
	for _, s := range batches {
		largest = max(largest, s)
	}
	mu.Unlock()
	if applied != n-1 {
		t.Errorf("OnApplied saw %d applied records, want %d", applied, n-1)
	}
	// The store ran slower than the broker delivered, so fetches queued up
	// and were joined.
	if largest <= batchSize {
		t.Errorf("largest store batch %d records, want more than one fetch (%d): batches %v", largest, batchSize, batches)
	}

	// Offsets were committed: a new member of the group finds nothing.
	again := b.NewConsumer("applytest-hub", topics.AllCanonical())
	t.Cleanup(func() { again.Close() })
	actx, acancel := context.WithTimeout(ctx, 3*time.Second)
	defer acancel()
	if got, err := again.Fetch(actx, 10, 0); err == nil {
		t.Errorf("a restarted member got %d messages again, want none (first offset %d)", len(got), got[0].Offset)
	}
}
