package pipeline

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
)

func change(seq int64, id, op string) hub.GoldenChange {
	return hub.GoldenChange{Seq: seq, GoldenID: id, Op: op}
}

func seqs(cs []hub.GoldenChange) []int64 {
	var out []int64
	for _, c := range cs {
		out = append(out, c.Seq)
	}
	return out
}

// sift holds a value change while apply is busy, lets a later change of
// the same golden (any op but value) supersede it, and releases it once
// Hold has passed or apply is idle; nothing else is ever held.
func TestGoldenStreamSift(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	held := func(first int64, since time.Time, c hub.GoldenChange) heldChange {
		return heldChange{change: c, first: first, since: since}
	}
	tests := []struct {
		name     string
		hold     time.Duration
		busy     bool
		held     map[string]heldChange
		changes  []hub.GoldenChange
		now      time.Time
		wantOut  []int64
		wantHeld map[string]heldChange
	}{
		{name: "no hold: everything goes", hold: 0, busy: true,
			changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(2, "b", hub.ChangeValue)},
			now:     t0, wantOut: []int64{1, 2}},
		{name: "busy: a value change alone is held, an upsert goes", hold: time.Second, busy: true,
			changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(2, "b", hub.ChangeValue)},
			now:     t0, wantOut: []int64{1},
			wantHeld: map[string]heldChange{"b": held(2, t0, change(2, "b", hub.ChangeValue))}},
		{name: "busy: a value change beside an upsert of its golden goes with it", hold: time.Second, busy: true,
			changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(2, "a", hub.ChangeValue)},
			now:     t0, wantOut: []int64{1, 2}},
		{name: "idle: a value change goes", hold: time.Second, busy: false,
			changes: []hub.GoldenChange{change(2, "b", hub.ChangeValue)},
			now:     t0, wantOut: []int64{2}},
		{name: "a later upsert supersedes the held change", hold: time.Second, busy: true,
			held:    map[string]heldChange{"b": held(2, t0, change(2, "b", hub.ChangeValue))},
			changes: []hub.GoldenChange{change(5, "b", hub.ChangeUpsert)},
			now:     t0.Add(100 * time.Millisecond), wantOut: []int64{5}},
		{name: "a later merge supersedes the held change", hold: time.Second, busy: true,
			held:    map[string]heldChange{"b": held(2, t0, change(2, "b", hub.ChangeValue))},
			changes: []hub.GoldenChange{{Seq: 6, GoldenID: "b", Op: hub.ChangeMerged, Survivor: "a"}},
			now:     t0.Add(100 * time.Millisecond), wantOut: []int64{6}},
		{name: "a later value change replaces the held one, keeping its first seq and time", hold: time.Second, busy: true,
			held:     map[string]heldChange{"b": held(2, t0, change(2, "b", hub.ChangeValue))},
			changes:  []hub.GoldenChange{change(7, "b", hub.ChangeValue)},
			now:      t0.Add(500 * time.Millisecond),
			wantHeld: map[string]heldChange{"b": held(2, t0, change(7, "b", hub.ChangeValue))}},
		{name: "held for Hold: released before the batch, in feed order", hold: time.Second, busy: true,
			held: map[string]heldChange{
				"c": held(3, t0, change(4, "c", hub.ChangeValue)),
				"b": held(2, t0, change(2, "b", hub.ChangeValue)),
				"d": held(8, t0.Add(900*time.Millisecond), change(8, "d", hub.ChangeValue)),
			},
			changes:  []hub.GoldenChange{change(9, "a", hub.ChangeUpsert)},
			now:      t0.Add(time.Second),
			wantOut:  []int64{2, 4, 9},
			wantHeld: map[string]heldChange{"d": held(8, t0.Add(900*time.Millisecond), change(8, "d", hub.ChangeValue))}},
		{name: "apply idle: all held go, the golden's last change once", hold: time.Hour, busy: false,
			held:    map[string]heldChange{"b": held(2, t0, change(2, "b", hub.ChangeValue)), "c": held(3, t0, change(3, "c", hub.ChangeValue))},
			changes: []hub.GoldenChange{change(10, "c", hub.ChangeValue)},
			now:     t0, wantOut: []int64{2, 3, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &GoldenStream{Hold: tt.hold, Busy: func() bool { return tt.busy }}
			before := map[string]heldChange{}
			for k, v := range tt.held {
				before[k] = v
			}
			out, next := g.sift(tt.changes, tt.held, tt.now)
			if got := seqs(out); !slices.Equal(got, tt.wantOut) {
				t.Errorf("published %v, want %v", got, tt.wantOut)
			}
			if len(next) != len(tt.wantHeld) {
				t.Errorf("held %+v, want %+v", next, tt.wantHeld)
			}
			for id, w := range tt.wantHeld {
				if h, ok := next[id]; !ok || h.first != w.first || !h.since.Equal(w.since) || h.change != w.change {
					t.Errorf("held %s = %+v, want %+v", id, h, w)
				}
			}
			if len(before) != len(tt.held) {
				t.Errorf("sift changed the held map it was given")
			}
		})
	}
}

// memFeed is a change feed in memory that a test appends to.
type memFeed struct {
	mu      sync.Mutex
	changes []hub.GoldenChange
}

func (f *memFeed) add(c hub.GoldenChange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, c)
}

func (f *memFeed) Changes(_ context.Context, after int64, limit int) ([]hub.GoldenChange, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []hub.GoldenChange
	for _, c := range f.changes {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

// anyGolden finds every id as an active golden customer.
type anyGolden struct{}

func (anyGolden) FindCustomerByID(_ context.Context, id string) (*hub.CustomerView, error) {
	return &hub.CustomerView{GoldenCustomer: hub.GoldenCustomer{ID: id}}, nil
}

// recordingPublisher keeps what was published.
type recordingPublisher struct {
	mu   sync.Mutex
	msgs []bus.Message
}

func (p *recordingPublisher) Publish(_ context.Context, msgs ...bus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, msgs...)
	return nil
}

// published lists key/op/seq of every message so far.
func (p *recordingPublisher) published() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.msgs {
		out = append(out, string(m.Key)+"/"+m.Headers["op"]+"/"+m.Headers["seq"])
	}
	return out
}

// While apply is busy the stream holds a value change and keeps its saved
// cursor before it (a restart reads it again: nothing is lost); a later
// upsert of the golden publishes the state once, under op upsert; once
// apply is idle a held change is published under op value.
func TestGoldenStreamHoldsValueChangesWhileBusy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	feed := &memFeed{}
	pos := &memPositions{m: map[string][]byte{}}
	pub := &recordingPublisher{}
	var busy atomic.Bool
	busy.Store(true)
	runGoldenStream(ctx, t, &GoldenStream{Feed: feed, Customers: anyGolden{}, Positions: pos, Publisher: pub,
		Topics: hub.Topics{Prefix: "hold"}, Interval: 5 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		Hold: time.Hour, Busy: busy.Load})
	position := func() string {
		b, _ := pos.Position(ctx, goldenStreamPosition)
		return string(b)
	}
	// waitFor polls until cond holds; the test's deadline bounds it.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("%s: published %v, position %q", what, pub.published(), position())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	feed.add(change(1, "a", hub.ChangeUpsert))
	feed.add(change(2, "b", hub.ChangeValue))
	feed.add(change(3, "c", hub.ChangeUpsert))
	waitFor("the upserts", func() bool { return len(pub.published()) == 2 && position() == "1" })
	if got, want := pub.published(), []string{"a/upsert/1", "c/upsert/3"}; !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v (b's value change held)", got, want)
	}

	feed.add(change(4, "b", hub.ChangeUpsert))
	waitFor("b's upsert", func() bool { return len(pub.published()) == 3 && position() == "4" })
	if got := pub.published()[2]; got != "b/upsert/4" {
		t.Fatalf("b published as %s, want once, under its upsert", got)
	}

	feed.add(change(5, "c", hub.ChangeValue))
	feed.add(change(6, "a", hub.ChangeUpsert))
	waitFor("a's upsert", func() bool { return len(pub.published()) == 4 && position() == "4" })
	busy.Store(false)
	waitFor("c's value change once idle", func() bool { return len(pub.published()) == 5 && position() == "6" })
	if got, want := pub.published()[3:], []string{"a/upsert/6", "c/value/5"}; !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
}

// GoldenStreamCaughtUp is true only once the saved cursor is at the feed's
// last change; a cursor kept before a held change is not caught up.
func TestGoldenStreamCaughtUp(t *testing.T) {
	ctx := context.Background()
	feed := &memFeed{}
	pos := &memPositions{m: map[string][]byte{}}
	for _, step := range []struct {
		add  *hub.GoldenChange
		save string
		want bool
	}{
		{want: true}, // nothing in the feed, nothing saved
		{add: &hub.GoldenChange{Seq: 1, GoldenID: "a", Op: hub.ChangeUpsert}, want: false},
		{save: "1", want: true},
		{add: &hub.GoldenChange{Seq: 2, GoldenID: "b", Op: hub.ChangeValue}, want: false},
		{add: &hub.GoldenChange{Seq: 3, GoldenID: "c", Op: hub.ChangeUpsert}, save: "1", want: false}, // b held
		{save: "3", want: true},
	} {
		if step.add != nil {
			feed.add(*step.add)
		}
		if step.save != "" {
			if err := pos.SavePosition(ctx, goldenStreamPosition, []byte(step.save)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := GoldenStreamCaughtUp(ctx, feed, pos)
		if err != nil {
			t.Fatal(err)
		}
		if got != step.want {
			t.Errorf("after %+v: caught up %v, want %v", step, got, step.want)
		}
	}
}
