package pipeline

import (
	"cmp"
	"slices"
	"time"

	"github.com/crmhub/crmhub/hub"
)

// With the value figures deferred, a golden's state used to go out twice
// in a sync: on its upsert, with figures not yet computed for what the
// batch brought, and again once the recompute moved its class (a value
// change), each message the whole state. In a first sync of 20,000
// people that second publish was a fifth of what the figures cost the
// hub (docs/benchmarks.md, #19). So, while a sync applies or figures are
// pending (Busy), the stream holds:
//
//   - a value change, up to Hold: a later change of the golden carries
//     the figures instead;
//   - with HoldUpserts, an upsert or sources change until the recompute
//     has taken its golden (Recomputed, with the feed's seq at its
//     commit), at most Hold: the state then goes out once, with the
//     figures of what the change brought, and a value change the
//     recompute wrote in the meantime folds into it (published under
//     the upsert's op, which write-back reads).
//
// An upsert whose recompute came is released while a sync applies; once
// apply is idle (Settling) it waits until the figures have settled. The
// first cuts of the segments are taken while a first sync applies, and
// the one its growth makes due once apply is idle moves the class of
// thousands of customers after the last recompute pass: released as
// their recompute came, each of those went out twice. In a first sync
// of 20,000 people that re-cut wrote 9,628 value changes 7.7 s after the
// last record (the change feed of a bench store, 2026-12-07). Held until
// it (the applier's value refresh takes it within value.delay), its value
// changes fold into what is held. A re-cut that commits between the
// stream's read and its asking still leaves the same state twice, as
// before, never a wrong one.
//
// A store created empty computes the figures of its first load in one
// sweep once the load pauses (store value_sweep.go), not as each
// customer settles: while that may be to come (Filling), what is held
// waits for it, bounded by a count (fillHeld) instead of by Hold.
//
// A merge or retirement supersedes what is held of its golden and is
// never held. An upsert that the recompute already covered when the
// stream reads it (a stream behind the feed) is not held.

// fillHeld bounds what the stream holds while the first fill of the
// figures is to come (Filling), in goldens: about 25 MB of held changes.
// A first load larger than that publishes its oldest states without
// figures, and again once the sweep computes them.
var fillHeld = 100000

// heldChange is what the stream holds of one golden.
type heldChange struct {
	change hub.GoldenChange // the latest change held
	op     string           // the op to publish under: upsert or sources over value
	first  int64            // the seq of the first change held: the cursor stays before it
	since  time.Time        // when the first was held
	ready  bool             // the recompute took it after its latest change
}

// holdRef is an entry of a holder's queue; stale once its golden is no
// longer held from that first seq.
type holdRef struct {
	id    string
	first int64
}

// holder keeps the held changes in hold order (so in order of first seq
// and of since), so that a poll finds the oldest, the due and the ready
// without walking every golden held: a first sync holds tens of
// thousands.
type holder struct {
	held  map[string]*heldChange
	order []holdRef        // hold order; stale entries are skipped
	ready []holdRef        // released by a recompute, in notification order
	done  map[string]int64 // recomputes notified that the stream has not read up to: golden -> seq
	acted map[string]int64 // recomputes taken from done since the last publish (reset puts them back)
}

func newHolder() *holder {
	return &holder{held: map[string]*heldChange{}, done: map[string]int64{}, acted: map[string]int64{}}
}

// reset forgets what is held (the stream reads it again from its saved
// cursor); the recomputes notified stay true, those acted on since the
// last publish included.
func (h *holder) reset() {
	h.held, h.order, h.ready = map[string]*heldChange{}, nil, nil
	for id, seq := range h.acted {
		h.done[id] = max(h.done[id], seq)
	}
	clear(h.acted)
}

// published says that what sift released went out: the recomputes it
// acted on are spent.
func (h *holder) published() {
	clear(h.acted)
}

// spend takes the recomputes the stream has read up to (read) out of
// done, keeping them until the next publish (reset).
func (h *holder) spend(read int64, each func(id string, seq int64)) {
	for id, seq := range h.done {
		if seq > read {
			continue
		}
		delete(h.done, id)
		h.acted[id] = max(h.acted[id], seq)
		if each != nil {
			each(id, seq)
		}
	}
}

func (h *holder) live(r holdRef) (*heldChange, bool) {
	c, ok := h.held[r.id]
	return c, ok && c.first == r.first
}

// floor is the first seq of the oldest change held.
func (h *holder) floor() (int64, bool) {
	for len(h.order) > 0 {
		if c, ok := h.live(h.order[0]); ok {
			return c.first, true
		}
		h.order = h.order[1:]
	}
	h.order = nil
	// Every held golden has an entry in order; this is a guard, not a path.
	first, ok := int64(0), false
	for _, c := range h.held {
		if !ok || c.first < first {
			first, ok = c.first, true
		}
	}
	return first, ok
}

func (h *holder) hold(c hub.GoldenChange, now time.Time) {
	if hc, ok := h.held[c.GoldenID]; ok {
		hc.change = c
		if c.Op != hub.ChangeValue {
			hc.op = c.Op
		}
		hc.ready = false
		return
	}
	h.held[c.GoldenID] = &heldChange{change: c, op: c.Op, first: c.Seq, since: now}
	h.order = append(h.order, holdRef{c.GoldenID, c.Seq})
}

// release takes the golden's held change out, under its publishing op.
func (h *holder) release(id string) (hub.GoldenChange, bool) {
	hc, ok := h.held[id]
	if !ok {
		return hub.GoldenChange{}, false
	}
	delete(h.held, id)
	c := hc.change
	c.Op = hc.op
	return c, true
}

// sift splits the changes read (up to seq read) and those held before
// into those to publish now, in feed order, and those to hold. busyBefore
// is Busy asked before the read (Run): busy then or now, the stream holds.
func (g *GoldenStream) sift(h *holder, changes []hub.GoldenChange, read int64, busyBefore bool, now time.Time) []hub.GoldenChange {
	for id, seq := range g.takeNotified() {
		h.done[id] = max(h.done[id], seq)
	}
	holdable := func(c hub.GoldenChange) bool {
		switch c.Op {
		case hub.ChangeValue:
			return true
		case hub.ChangeUpsert, hub.ChangeSources:
			// Not when the recompute took the golden after this change.
			return g.HoldUpserts && h.done[c.GoldenID] < c.Seq
		}
		return false
	}
	if g.Hold <= 0 || g.Busy == nil || (len(h.held) == 0 && !slices.ContainsFunc(changes, holdable)) {
		h.spend(read, nil)
		return changes
	}
	busy := busyBefore || g.Busy()
	settling := g.Settling != nil && g.Settling()
	filling := g.Filling != nil && g.Filling()
	hold := busy || settling
	// The goldens with a change in this batch that goes now (a merge, a
	// retirement, an upsert not held): their other changes go with it,
	// as one message (publish takes a golden's last change).
	goes := map[string]bool{}
	for _, c := range changes {
		if !holdable(c) {
			goes[c.GoldenID] = true
		}
	}
	var batch []hub.GoldenChange
	for _, c := range changes {
		if hold && holdable(c) && !goes[c.GoldenID] {
			h.hold(c, now)
			continue
		}
		if held, ok := h.release(c.GoldenID); ok && c.Op == hub.ChangeValue {
			c.Op = held.Op // an upsert or sources change held: write-back must see it
		}
		batch = append(batch, c)
	}
	// Recomputes the stream has now read up to: a value change they
	// wrote is in the feed before their seq, so it has been folded in.
	h.spend(read, func(id string, seq int64) {
		if hc, ok := h.held[id]; ok && hc.op != hub.ChangeValue && !hc.ready && hc.change.Seq <= seq {
			hc.ready = true
			h.ready = append(h.ready, holdRef{id, hc.first})
		}
	})
	// At most a batch's worth a poll: at the end of a first sync tens of
	// thousands are released at once. Those the recompute took first
	// (unless apply is idle and the figures settling), then the oldest
	// once due.
	var out []hub.GoldenChange
	for !settling && len(out) < goldenBatch && len(h.ready) > 0 {
		r := h.ready[0]
		h.ready = h.ready[1:]
		if hc, ok := h.live(r); ok && hc.ready {
			c, _ := h.release(r.id)
			out = append(out, c)
		}
	}
	for len(out) < goldenBatch && len(h.order) > 0 {
		r := h.order[0]
		hc, ok := h.live(r)
		if ok && hold && (filling && len(h.held) <= fillHeld || !filling && now.Sub(hc.since) < g.Hold) {
			break // the queue is in hold order: none after it is due
		}
		h.order = h.order[1:]
		if ok {
			c, _ := h.release(r.id)
			out = append(out, c)
		}
	}
	if len(h.ready) == 0 {
		h.ready = nil
	}
	// In feed order: the released were read before the batch (when a
	// golden is in both, publish takes its last).
	slices.SortFunc(out, func(a, b hub.GoldenChange) int { return cmp.Compare(a.Seq, b.Seq) })
	return append(out, batch...)
}
