package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
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

// sift holds a value change while apply is busy and, with HoldUpserts,
// an upsert or sources change until the recompute took its golden; a
// later change of the golden folds in (under the upsert's op) or, a merge
// or retirement, supersedes it; a held change goes once its golden's
// recompute has been read up to, once Hold has passed, or once apply is
// idle.
func TestGoldenStreamSift(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	type heldWant struct {
		first int64
		seq   int64  // of the latest change held
		op    string // to publish under
	}
	type poll struct {
		notify  map[string]int64 // Recomputed before the poll: golden -> seq
		changes []hub.GoldenChange
		read    int64 // 0: the last change's seq
		busy    bool
		// busyBefore: Busy before the read (a recompute committed
		// between the read and sift's own asking)
		busyBefore bool
		settling   bool          // apply idle, the figures not settled (Settling)
		at         time.Duration // after t0
		wantOut    []string      // id/op/seq
	}
	tests := []struct {
		name     string
		hold     time.Duration
		upserts  bool
		polls    []poll
		wantHeld map[string]heldWant
	}{
		{name: "no hold: everything goes", hold: 0, upserts: true,
			polls: []poll{{busy: true, changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(2, "b", hub.ChangeValue)},
				wantOut: []string{"a/upsert/1", "b/value/2"}}}},
		{name: "busy, upserts not held: a value change alone is held, an upsert goes", hold: time.Second,
			polls: []poll{{busy: true, changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(2, "b", hub.ChangeValue)},
				wantOut: []string{"a/upsert/1"}}},
			wantHeld: map[string]heldWant{"b": {2, 2, hub.ChangeValue}}},
		{name: "busy, upserts not held: a value change beside an upsert of its golden goes with it", hold: time.Second,
			polls: []poll{{busy: true, changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(2, "a", hub.ChangeValue)},
				wantOut: []string{"a/upsert/1", "a/value/2"}}}},
		{name: "busy: a held upsert's change beside a merge of its golden goes with it", hold: time.Second, upserts: true,
			polls: []poll{{busy: true, changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(2, "a", hub.ChangeMerged)},
				wantOut: []string{"a/upsert/1", "a/merged/2"}}}},
		{name: "idle: nothing is held", hold: time.Second, upserts: true,
			polls: []poll{{busy: false, changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(2, "b", hub.ChangeValue)},
				wantOut: []string{"a/upsert/1", "b/value/2"}}}},
		{name: "an upsert waits for its recompute; the value change it wrote folds in, under the upsert's op", hold: time.Minute, upserts: true,
			polls: []poll{
				{busy: true, changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(2, "b", hub.ChangeUpsert)}},
				{busy: true, notify: map[string]int64{"a": 3}, changes: []hub.GoldenChange{change(3, "a", hub.ChangeValue)},
					wantOut: []string{"a/upsert/3"}},
			},
			wantHeld: map[string]heldWant{"b": {2, 2, hub.ChangeUpsert}}},
		{name: "a recompute is acted on only once the stream has read up to its seq", hold: time.Minute, upserts: true,
			polls: []poll{
				{busy: true, changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert)}},
				{busy: true, notify: map[string]int64{"a": 5}, changes: []hub.GoldenChange{change(2, "b", hub.ChangeUpsert)}, read: 4},
				{busy: true, changes: []hub.GoldenChange{change(5, "a", hub.ChangeValue)}, wantOut: []string{"a/upsert/5"}},
			},
			wantHeld: map[string]heldWant{"b": {2, 2, hub.ChangeUpsert}}},
		{name: "a recompute before the golden's latest change does not release it", hold: time.Minute, upserts: true,
			polls: []poll{
				{busy: true, changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(3, "a", hub.ChangeSources)}},
				{busy: true, notify: map[string]int64{"a": 2}, read: 3},
			},
			wantHeld: map[string]heldWant{"a": {1, 3, hub.ChangeSources}}},
		{name: "an upsert the recompute already covered when read is not held", hold: time.Minute, upserts: true,
			polls: []poll{
				{busy: true, notify: map[string]int64{"a": 7}, changes: []hub.GoldenChange{change(4, "a", hub.ChangeUpsert), change(5, "b", hub.ChangeUpsert)},
					wantOut: []string{"a/upsert/4"}},
			},
			wantHeld: map[string]heldWant{"b": {5, 5, hub.ChangeUpsert}}},
		{name: "a merge supersedes what is held and goes at once", hold: time.Minute, upserts: true,
			polls: []poll{
				{busy: true, changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(2, "a", hub.ChangeValue)}},
				{busy: true, changes: []hub.GoldenChange{{Seq: 6, GoldenID: "a", Op: hub.ChangeMerged, Survivor: "b"}},
					wantOut: []string{"a/merged/6"}},
			}},
		{name: "a value change held, then an upsert: held under op upsert", hold: time.Minute, upserts: true,
			polls: []poll{
				{busy: true, changes: []hub.GoldenChange{change(2, "b", hub.ChangeValue)}},
				{busy: true, changes: []hub.GoldenChange{change(5, "b", hub.ChangeUpsert)}, at: 100 * time.Millisecond},
			},
			wantHeld: map[string]heldWant{"b": {2, 5, hub.ChangeUpsert}}},
		{name: "a value change alone is not released by a recompute (only by time or idleness)", hold: time.Minute, upserts: true,
			polls: []poll{
				{busy: true, changes: []hub.GoldenChange{change(2, "b", hub.ChangeValue)}},
				{busy: true, notify: map[string]int64{"b": 2}, read: 2},
			},
			wantHeld: map[string]heldWant{"b": {2, 2, hub.ChangeValue}}},
		{name: "held for Hold: released before the batch, in feed order", hold: time.Second, upserts: true,
			polls: []poll{
				{busy: true, changes: []hub.GoldenChange{change(2, "b", hub.ChangeValue), change(3, "c", hub.ChangeUpsert), change(4, "c", hub.ChangeValue)}},
				{busy: true, changes: []hub.GoldenChange{change(8, "d", hub.ChangeValue)}, at: 900 * time.Millisecond},
				{busy: true, changes: []hub.GoldenChange{change(9, "a", hub.ChangeMerged)}, at: time.Second,
					wantOut: []string{"b/value/2", "c/upsert/4", "a/merged/9"}},
			},
			wantHeld: map[string]heldWant{"d": {8, 8, hub.ChangeValue}}},
		{name: "apply idle: all held go, the golden's last change once", hold: time.Hour, upserts: true,
			polls: []poll{
				{busy: true, changes: []hub.GoldenChange{change(2, "b", hub.ChangeUpsert), change(3, "c", hub.ChangeValue)}},
				{busy: false, changes: []hub.GoldenChange{change(10, "c", hub.ChangeValue)},
					wantOut: []string{"b/upsert/2", "c/value/10"}},
			}},
		{name: "busy before the read, idle after: what is held stays, the recompute's value change may be past the read", hold: time.Hour, upserts: true,
			polls: []poll{
				{busy: true, changes: []hub.GoldenChange{change(2, "b", hub.ChangeUpsert)}},
				{busy: false, busyBefore: true},
				{busy: false, changes: []hub.GoldenChange{change(3, "b", hub.ChangeValue)},
					wantOut: []string{"b/upsert/3"}},
			}},
		{name: "apply idle, figures settling: a recomputed upsert waits, and the re-cut's value change folds in", hold: time.Hour, upserts: true,
			polls: []poll{
				{busy: true, changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(2, "b", hub.ChangeValue)}},
				// The last recompute pass: marks pending, apply idle.
				{busy: true, settling: true, notify: map[string]int64{"a": 3}, changes: []hub.GoldenChange{change(3, "a", hub.ChangeValue), change(4, "c", hub.ChangeValue)}},
				// Marks done, the re-cut due and then taken.
				{settling: true, changes: []hub.GoldenChange{change(5, "a", hub.ChangeValue)}},
				{changes: []hub.GoldenChange{change(6, "b", hub.ChangeValue)},
					wantOut: []string{"c/value/4", "a/upsert/5", "b/value/6"}},
			}},
		{name: "settling holds no longer than Hold", hold: time.Second, upserts: true,
			polls: []poll{
				{busy: true, changes: []hub.GoldenChange{change(1, "a", hub.ChangeUpsert), change(2, "b", hub.ChangeUpsert)}, at: 0},
				{settling: true, notify: map[string]int64{"b": 2}, changes: []hub.GoldenChange{change(3, "c", hub.ChangeValue)}, at: time.Second,
					wantOut: []string{"a/upsert/1", "b/upsert/2"}},
			},
			wantHeld: map[string]heldWant{"c": {3, 3, hub.ChangeValue}}},
		{name: "apply idle: a held upsert's golden changing again goes under the upsert's op", hold: time.Hour, upserts: true,
			polls: []poll{
				{busy: true, changes: []hub.GoldenChange{change(2, "b", hub.ChangeUpsert)}},
				{busy: false, changes: []hub.GoldenChange{change(10, "b", hub.ChangeValue)},
					wantOut: []string{"b/upsert/10"}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &GoldenStream{Hold: tt.hold, HoldUpserts: tt.upserts}
			h := newHolder()
			for i, p := range tt.polls {
				g.Busy = func() bool { return p.busy }
				g.Settling = func() bool { return p.settling }
				for id, seq := range p.notify {
					g.Recomputed([]string{id}, seq)
				}
				read := p.read
				if read == 0 && len(p.changes) > 0 {
					read = p.changes[len(p.changes)-1].Seq
				}
				var got []string
				for _, c := range g.sift(h, p.changes, read, p.busyBefore, t0.Add(p.at)) {
					got = append(got, c.GoldenID+"/"+c.Op+"/"+strconv.FormatInt(c.Seq, 10))
				}
				if !slices.Equal(got, p.wantOut) {
					t.Errorf("poll %d published %v, want %v", i, got, p.wantOut)
				}
			}
			if len(h.held) != len(tt.wantHeld) {
				t.Errorf("held %d goldens, want %d", len(h.held), len(tt.wantHeld))
			}
			for id, w := range tt.wantHeld {
				hc, ok := h.held[id]
				if !ok || hc.first != w.first || hc.change.Seq != w.seq || hc.op != w.op {
					t.Errorf("held %s = %+v, want %+v", id, hc, w)
				}
			}
			if first, ok := h.floor(); len(tt.wantHeld) > 0 {
				want := int64(-1)
				for _, w := range tt.wantHeld {
					if want < 0 || w.first < want {
						want = w.first
					}
				}
				if !ok || first != want {
					t.Errorf("floor %d (%v), want %d", first, ok, want)
				}
			} else if ok {
				t.Errorf("floor %d with nothing held", first)
			}
		})
	}
}

// At most a batch's worth of held changes goes a poll, oldest first, the
// ones whose recompute came first.
func TestGoldenStreamSiftReleasesABatchAPoll(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	g := &GoldenStream{Hold: time.Hour, HoldUpserts: true, Busy: func() bool { return true }}
	h := newHolder()
	var changes []hub.GoldenChange
	n := goldenBatch + goldenBatch/2
	for i := range n {
		changes = append(changes, change(int64(i+1), "g"+strconv.Itoa(i), hub.ChangeUpsert))
	}
	if out := g.sift(h, changes, int64(n), false, t0); len(out) != 0 {
		t.Fatalf("published %d while busy, want all held", len(out))
	}
	// The last one's recompute, then every golden's idle.
	g.Recomputed([]string{"g" + strconv.Itoa(n-1)}, int64(n))
	out := g.sift(h, nil, int64(n), false, t0)
	if len(out) != 1 || out[0].Seq != int64(n) {
		t.Fatalf("after the recompute published %v, want the recomputed golden's upsert alone", seqs(out))
	}
	g.Busy = func() bool { return false }
	out = g.sift(h, nil, int64(n), false, t0)
	if len(out) != goldenBatch || out[0].Seq != 1 || out[len(out)-1].Seq != goldenBatch {
		t.Fatalf("idle: published %d (first %d), want the oldest %d", len(out), out[0].Seq, goldenBatch)
	}
	if first, ok := h.floor(); !ok || first != goldenBatch+1 {
		t.Fatalf("floor %d, want %d", first, goldenBatch+1)
	}
	if out = g.sift(h, nil, int64(n), false, t0); len(out) != n-goldenBatch-1 {
		t.Fatalf("second idle poll published %d, want %d", len(out), n-goldenBatch-1)
	}
	if _, ok := h.floor(); ok || len(h.held) != 0 {
		t.Fatalf("%d still held", len(h.held))
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

// failingOnce fails its first Publish.
type failingOnce struct {
	recordingPublisher
	failed atomic.Bool
}

func (p *failingOnce) Publish(ctx context.Context, msgs ...bus.Message) error {
	if !p.failed.Swap(true) {
		return errors.New("broker away")
	}
	return p.recordingPublisher.Publish(ctx, msgs...)
}

// A publish that fails after changes were released from the holder loses
// none: the stream reads again from its saved cursor, before every change
// held, and publishes each golden's last change.
func TestGoldenStreamHeldSurvivesAFailedPublish(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	feed := &memFeed{}
	pos := &memPositions{m: map[string][]byte{}}
	pub := &failingOnce{}
	gs := &GoldenStream{Feed: feed, Customers: anyGolden{}, Positions: pos, Publisher: pub,
		Topics: hub.Topics{Prefix: "fail"}, Interval: 5 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		Hold: time.Hour, HoldUpserts: true, Busy: func() bool { return true }}
	feed.add(change(1, "a", hub.ChangeUpsert))
	feed.add(change(2, "b", hub.ChangeUpsert))
	feed.add(change(3, "a", hub.ChangeValue))
	runGoldenStream(ctx, t, gs)
	time.Sleep(50 * time.Millisecond)
	if got := pub.published(); len(got) != 0 {
		t.Fatalf("published %v while both are held", got)
	}
	gs.Recomputed([]string{"a", "b"}, 3)
	for len(pub.published()) < 2 {
		if ctx.Err() != nil {
			t.Fatalf("published %v", pub.published())
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := pub.published()
	slices.Sort(got)
	if want := []string{"a/upsert/3", "b/upsert/2"}; !slices.Equal(got, want) {
		t.Fatalf("published %v after a failed publish, want %v", got, want)
	}
	if !pub.failed.Load() {
		t.Fatal("the publisher never failed")
	}
	for b, _ := pos.Position(ctx, goldenStreamPosition); string(b) != "3"; b, _ = pos.Position(ctx, goldenStreamPosition) {
		if ctx.Err() != nil {
			t.Fatalf("position %q, want 3", b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// While the first fill of the figures may be to come (Filling), what is
// held waits past Hold for the sweep's recompute, up to fillHeld goldens:
// beyond that the oldest go out.
func TestGoldenStreamSiftFilling(t *testing.T) {
	defer func(n int) { fillHeld = n }(fillHeld)
	fillHeld = 3
	t0 := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	filling := true
	g := &GoldenStream{Hold: time.Second, HoldUpserts: true, Busy: func() bool { return true }, Filling: func() bool { return filling }}
	h := newHolder()
	var changes []hub.GoldenChange
	for i := range 3 {
		changes = append(changes, change(int64(i+1), "g"+strconv.Itoa(i), hub.ChangeUpsert))
	}
	if out := g.sift(h, changes, 3, true, t0); len(out) != 0 {
		t.Fatalf("published %v while busy, want all held", seqs(out))
	}
	// An hour on, past Hold: still held for the sweep.
	if out := g.sift(h, nil, 3, true, t0.Add(time.Hour)); len(out) != 0 {
		t.Fatalf("filling: published %v past Hold, want all held for the sweep", seqs(out))
	}
	// Two more goldens: the holder is over its bound by two, the oldest two go.
	out := g.sift(h, []hub.GoldenChange{change(4, "g3", hub.ChangeUpsert), change(5, "g4", hub.ChangeUpsert)}, 5, true, t0.Add(time.Hour))
	if got := seqs(out); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("over the bound published %v, want [1 2]", got)
	}
	// The sweep recomputes g2: it goes as soon as the stream has read to its seq.
	g.Recomputed([]string{"g2"}, 5)
	if got := seqs(g.sift(h, nil, 5, true, t0.Add(time.Hour))); len(got) != 1 || got[0] != 3 {
		t.Fatalf("after the sweep's recompute published %v, want [3]", got)
	}
	// Fill over: Hold bounds again, and the rest are held a Hold.
	filling = false
	if got := seqs(g.sift(h, nil, 5, true, t0.Add(time.Hour+time.Second))); len(got) != 2 {
		t.Fatalf("after the fill published %v, want the two left", got)
	}
}
