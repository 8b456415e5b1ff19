package pipeline

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/store"
)

// A batch that creates a customer with an order writes an upsert and a
// value change (stage none -> new) of the same id to the feed, in one
// transaction. The stream publishes one message for both: under op upsert,
// which write-back acts on (it skips op value), with the value block.
func TestGoldenStreamValueChangeAfterUpsert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Sync figures (the store's default): computed in the batch's own
	// transaction.
	b, st := goldenBed(ctx, t, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "val", Partitions: 1})
	at := time.Now().UTC()
	env := func(entity, srcEntity, id string, data any) hub.Envelope {
		return envelopeAt("crm", srcEntity, id, entity, at, data)
	}
	if _, err := st.Apply(ctx, []hub.Envelope{
		env(hub.EntityCustomer, "customers", "C-1", hub.Customer{Kind: "person", FullName: "Ada Muster", Emails: []string{"ada@example.com"}}),
		env(hub.EntityOrder, "orders", "O-1", hub.Order{OrderNumber: "O-1", CustomerRef: hub.Ref{System: "crm", ID: "C-1"},
			OrderDate: at.AddDate(0, 0, -3).Format(time.DateOnly), Status: "delivered", Total: &hub.Money{Amount: "42.00", Currency: "EUR"}}),
	}); err != nil {
		t.Fatal(err)
	}
	feed, err := st.Changes(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, c := range feed {
		ops = append(ops, c.Op)
	}
	if len(feed) != 2 || ops[0] != hub.ChangeUpsert || ops[1] != hub.ChangeValue || feed[0].GoldenID != feed[1].GoldenID {
		t.Fatalf("feed ops %v, want an upsert and a value change of one customer", ops)
	}

	topics := hub.Topics{Prefix: "val"}
	runGoldenStream(ctx, t, &GoldenStream{Feed: st, Customers: st, Positions: st, Publisher: b, Topics: topics, Interval: 20 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})

	c := b.NewConsumer("t-golden", []string{topics.GoldenChanges()})
	defer c.Close()
	msgs, err := c.Fetch(ctx, 10, time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("golden messages: %d, %v; want 1", len(msgs), err)
	}
	var s hub.GoldenState
	if err := json.Unmarshal(msgs[0].Value, &s); err != nil {
		t.Fatal(err)
	}
	if op := msgs[0].Headers["op"]; op != hub.ChangeUpsert {
		t.Errorf("published under op %q, want %q", op, hub.ChangeUpsert)
	}
	if v := s.Value; v == nil || v.Stage != "new" || v.Revenue12m != (hub.Money{Amount: "42.00", Currency: "EUR"}) {
		t.Errorf("value block %+v, want stage new and revenue_12m 42.00 EUR", v)
	}
}

// goldenBed opens an embedded bus and a SQLite store for a golden stream
// test; both close when the test ends.
func goldenBed(ctx context.Context, t *testing.T, cfg bus.Config) (*bus.Bus, *store.Store) {
	t.Helper()
	return goldenBedWith(ctx, t, cfg, store.Options{})
}

// goldenBedWith is goldenBed with the store's options.
func goldenBedWith(ctx context.Context, t *testing.T, cfg bus.Config, opts store.Options) (*bus.Bus, *store.Store) {
	t.Helper()
	b, err := bus.Open(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "hub.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return b, st
}

// runGoldenStream runs gs until the test ends.
func runGoldenStream(ctx context.Context, t *testing.T, gs *GoldenStream) {
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gs.Run(rctx) }()
	t.Cleanup(func() { stop(); <-done })
}

// envelopeAt is a canonical upsert of data as a connector of system
// publishes it.
func envelopeAt(system, srcEntity, id, entity string, at time.Time, data any) hub.Envelope {
	raw, _ := json.Marshal(data)
	e := hub.Envelope{System: system, SourceEntity: srcEntity, SourceID: id, SourceUpdatedAt: at, Entity: entity,
		SchemaVersion: hub.SchemaVersion, Op: hub.OpUpsert, Mapping: system + "_" + srcEntity, MappingVersion: 1, Connector: system, Data: raw}
	e.ComputeEventID()
	return e
}

// A change of a golden merged before the stream read it publishes the
// merge (op merged, merged_into the survivor), found by following the
// merges (store.GoldenSurvivor); an unknown id publishes nothing; an
// active one its state.
func TestGoldenStreamChangeOfMergedGolden(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, st := goldenBed(ctx, t, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "mrg", Partitions: 1})
	at := time.Now().UTC()
	if _, err := st.Apply(ctx, []hub.Envelope{
		envelopeAt("crm", "customers", "C-1", hub.EntityCustomer, at, hub.Customer{Kind: "person", FullName: "Ada Muster", Emails: []string{"ada@example.com"}}),
		envelopeAt("crm", "customers", "C-2", hub.EntityCustomer, at, hub.Customer{Kind: "person", FullName: "Bert Brecht", Emails: []string{"bert@example.com"}}),
	}); err != nil {
		t.Fatal(err)
	}
	feed, err := st.Changes(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, c := range feed {
		ids[c.GoldenID] = true
	}
	if len(ids) != 2 {
		t.Fatalf("feed %+v: want two goldens", feed)
	}
	var a, c string
	for id := range ids {
		if a == "" {
			a = id
		} else {
			c = id
		}
	}
	survivor, err := st.ForceMerge(ctx, a, c, "steward@example.com", "test")
	if err != nil {
		t.Fatal(err)
	}
	merged := a
	if survivor == a {
		merged = c
	}
	topics := hub.Topics{Prefix: "mrg"}
	gs := &GoldenStream{Feed: st, Customers: st, Positions: st, Publisher: b, Topics: topics, Logger: slog.New(slog.DiscardHandler)}
	// Changes as the stream could read them before the merge's own entry:
	// an upsert of each and of an id the store never had.
	if err := gs.publish(ctx, []hub.GoldenChange{{Seq: 1, GoldenID: merged, Op: hub.ChangeUpsert},
		{Seq: 2, GoldenID: "g-unknown", Op: hub.ChangeValue}, {Seq: 3, GoldenID: survivor, Op: hub.ChangeValue}}); err != nil {
		t.Fatal(err)
	}
	cons := b.NewConsumer("t-golden", []string{topics.GoldenChanges()})
	defer cons.Close()
	msgs, err := cons.Fetch(ctx, 10, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, m := range msgs {
		got[string(m.Key)] = m.Headers
	}
	if len(msgs) != 2 {
		t.Fatalf("%d messages %v, want 2 (the merged id and the survivor)", len(msgs), got)
	}
	if h := got[merged]; h["op"] != hub.ChangeMerged || h["merged_into"] != survivor {
		t.Errorf("merged id published with %v, want op merged into %s", h, survivor)
	}
	if h := got[survivor]; h["op"] != hub.ChangeValue {
		t.Errorf("survivor published with %v, want its state under op value", h)
	}
	// A value change of the merged id publishes nothing (its merge says
	// where it went): the next message is the survivor's.
	if err := gs.publish(ctx, []hub.GoldenChange{{Seq: 4, GoldenID: merged, Op: hub.ChangeValue}}); err != nil {
		t.Fatal(err)
	}
	if err := gs.publish(ctx, []hub.GoldenChange{{Seq: 5, GoldenID: survivor, Op: hub.ChangeUpsert}}); err != nil {
		t.Fatal(err)
	}
	for {
		msgs, err := cons.Fetch(ctx, 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			continue
		}
		if k := string(msgs[0].Key); k != survivor || msgs[0].Headers["op"] != hub.ChangeUpsert {
			t.Fatalf("after a value change of the merged id, got %s %v, want the survivor's upsert", k, msgs[0].Headers)
		}
		break
	}
}

// With the figures deferred, a customer's upsert waits for its figures:
// nothing is published while its mark is pending, and once the recompute
// takes it (and tells the stream), one message goes, under op upsert, with
// the value block of the order the batch brought; the value change the
// recompute wrote adds none. Before, the upsert went at once without
// figures and the value change republished the whole state.
func TestGoldenStreamHoldsUpsertForItsFigures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, st := goldenBedWith(ctx, t, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "hold", Partitions: 1},
		store.Options{Value: store.ValueOptions{Deferred: true}})
	at := time.Now().UTC()
	if _, err := st.Apply(ctx, []hub.Envelope{
		envelopeAt("crm", "customers", "C-1", hub.EntityCustomer, at, hub.Customer{Kind: "person", FullName: "Ada Muster", Emails: []string{"ada@example.com"}}),
		envelopeAt("crm", "orders", "O-1", hub.EntityOrder, at, hub.Order{OrderNumber: "O-1", CustomerRef: hub.Ref{System: "crm", ID: "C-1"},
			OrderDate: at.AddDate(0, 0, -3).Format(time.DateOnly), Status: "delivered", Total: &hub.Money{Amount: "42.00", Currency: "EUR"}}),
	}); err != nil {
		t.Fatal(err)
	}
	topics := hub.Topics{Prefix: "hold"}
	gs := &GoldenStream{Feed: st, Customers: st, Positions: st, Publisher: b, Topics: topics, Interval: 10 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), Hold: time.Minute, HoldUpserts: true,
		Busy: func() bool { p, err := st.ValueMarksPending(ctx); return err == nil && p }}
	runGoldenStream(ctx, t, gs)
	cons := b.NewConsumer("t-golden", []string{topics.GoldenChanges()})
	defer cons.Close()
	if msgs := fetchWithin(ctx, t, cons, 500*time.Millisecond); len(msgs) != 0 {
		t.Fatalf("before the recompute: %d messages, want the upsert held", len(msgs))
	}
	if caught, err := GoldenStreamCaughtUp(ctx, st, st); err != nil || caught {
		t.Fatalf("caught up %v (%v) with the upsert held, want the cursor before it", caught, err)
	}
	var recomputed []string
	if _, err := st.DrainSettled(ctx, 100, 0, 0, func(ids []string, seq int64) {
		recomputed = append(recomputed, ids...)
		gs.Recomputed(ids, seq)
	}); err != nil {
		t.Fatal(err)
	}
	if len(recomputed) != 1 {
		t.Fatalf("recomputed %v, want the one customer", recomputed)
	}
	msgs, err := cons.Fetch(ctx, 10, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if more := fetchWithin(ctx, t, cons, 300*time.Millisecond); len(msgs)+len(more) != 1 {
		t.Fatalf("%d messages after the recompute, want one", len(msgs)+len(more))
	}
	var s hub.GoldenState
	if err := json.Unmarshal(msgs[0].Value, &s); err != nil {
		t.Fatal(err)
	}
	if op := msgs[0].Headers["op"]; op != hub.ChangeUpsert || s.ID != recomputed[0] {
		t.Errorf("published %s under op %q, want %s under upsert", s.ID, op, recomputed[0])
	}
	if v := s.Value; v == nil || v.Stage != "new" || v.Revenue12m != (hub.Money{Amount: "42.00", Currency: "EUR"}) {
		t.Errorf("value block %+v, want stage new and revenue_12m 42.00 EUR", v)
	}
	for {
		caught, err := GoldenStreamCaughtUp(ctx, st, st)
		if err != nil {
			t.Fatal(err)
		}
		if caught {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fetchWithin returns what the consumer fetches within d (Fetch waits
// for a first message until its context ends).
func fetchWithin(ctx context.Context, t *testing.T, c *bus.Consumer, d time.Duration) []bus.Message {
	t.Helper()
	fctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	msgs, err := c.Fetch(fctx, 10, d/4)
	if err != nil && fctx.Err() == nil {
		t.Fatal(err)
	}
	return msgs
}
