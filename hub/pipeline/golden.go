package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/internal/retry"
)

// GoldenFinder reads a golden customer's current state.
type GoldenFinder interface {
	FindCustomerByID(ctx context.Context, id string) (*hub.CustomerView, error)
}

// goldenBatch is how many changes the stream reads from the feed at a time.
const goldenBatch = 500

// goldenStreamPosition is the Positions key of the stream's outbox cursor.
const goldenStreamPosition = "_golden_stream"

// GoldenStream publishes golden-customer changes from the store's outbox
// (written in the same transaction as the change) to the compacted topic
// keyed by golden id. A merged or retired id gets a tombstone; a merge's
// tombstone carries the survivor in its merged_into header.
type GoldenStream struct {
	Feed      hub.ChangeFeed
	Customers GoldenFinder
	Positions Positions
	Publisher Publisher
	Topics    hub.Topics
	Interval  time.Duration
	Logger    *slog.Logger
	// Metrics, when set, counts states bounded or skipped for their size.
	Metrics *Metrics
	// Hold, when set with Busy, is how long a change waits while Busy
	// reports true before it is published: a value change (a class moved,
	// no golden field) always, an upsert or sources change when
	// HoldUpserts is set (golden_hold.go says which and why). A later
	// change of the same golden within that time publishes the state
	// instead, value block included, and the held change adds no message
	// of its own. Merges and retirements are never held, and once Busy
	// reports false the held changes go out at the next polls.
	Hold time.Duration
	Busy func() bool
	// HoldUpserts holds an upsert or sources change until the deferred
	// recompute has taken its golden (Recomputed), at most Hold.
	HoldUpserts bool
	// Settling, when set, reports that apply is idle but the figures
	// have not settled: recomputes still pending, or a re-cut of the
	// segments due. What is held then waits, at most Hold, an upsert
	// whose recompute came included, so that it goes out once with its
	// final class instead of again as the re-cut's value change
	// (golden_hold.go). Asked only with something held or to hold.
	Settling func() bool
	// Filling, when set, reports that the first fill of the figures may
	// be to come (store ValueFilling): a store created empty computes
	// them in one sweep once its first load pauses, so what is held waits
	// for it rather than for Hold, up to fillHeld goldens held (the
	// oldest go out beyond that), and goes out once with its figures.
	Filling func() bool

	mu       sync.Mutex
	notified map[string]int64 // Recomputed since the last poll: golden -> feed seq
}

// Run publishes until ctx is done. The outbox cursor is saved only after
// Kafka acknowledged, and before any change held (Hold), so a restart
// republishes at most the last batch and what came after the first change
// held, which a compacted topic absorbs (same key, same state).
func (g *GoldenStream) Run(ctx context.Context) error {
	if g.Interval == 0 {
		g.Interval = 200 * time.Millisecond
	}
	after, err := goldenStreamSaved(ctx, g.Positions)
	if err != nil {
		return err
	}
	backoff := retry.NewBackoff(200*time.Millisecond, 10*time.Second)
	h := newHolder()
	saved := after
	for {
		// With something held, Busy is asked before the read as well:
		// asked only after it, a recompute committing in between (its
		// marks cleared, its value change past what was read) reads as
		// idle and the held upsert goes alone, its figures in a second
		// message. Idle before the read means every recompute that
		// cleared marks is in it.
		busyBefore := len(h.held) > 0 && g.Busy != nil && g.Hold > 0 && g.Busy()
		changes, err := g.Feed.Changes(ctx, after, goldenBatch)
		var out []hub.GoldenChange
		if err == nil {
			read := after
			if len(changes) > 0 {
				read = changes[len(changes)-1].Seq
			}
			out = g.sift(h, changes, read, busyBefore, time.Now())
			if len(out) > 0 {
				err = g.publish(ctx, out)
			}
			if err != nil {
				// sift moved changes into and out of the holder: start
				// again from the saved cursor, which is before every
				// change held, and hold them afresh.
				h.reset()
				after = saved
			} else {
				h.published()
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			g.Logger.Warn("golden stream: retrying", "err", err)
			if !retry.Sleep(ctx, backoff.Next()) {
				return nil
			}
			continue
		}
		backoff.Reset()
		if len(changes) > 0 {
			after = changes[len(changes)-1].Seq
		}
		// The saved cursor stays before every change held, so a restart
		// reads them again: a held change is published or superseded,
		// never lost.
		pos := after
		if first, ok := h.floor(); ok {
			pos = min(pos, first-1)
		}
		if pos != saved {
			if err := g.Positions.SavePosition(ctx, goldenStreamPosition, []byte(strconv.FormatInt(pos, 10))); err != nil {
				return fmt.Errorf("golden stream position: %w", err)
			}
			saved = pos
		}
		if len(changes) == 0 && len(out) == 0 {
			if !retry.Sleep(ctx, g.Interval) {
				return nil
			}
		}
	}
}

// Recomputed tells the stream that the deferred recompute took these
// goldens in a transaction that committed with the feed at seq: an upsert
// held for them up to seq has its figures and goes out (HoldUpserts).
// Safe to call from any goroutine.
func (g *GoldenStream) Recomputed(ids []string, seq int64) {
	if !g.HoldUpserts || len(ids) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.notified == nil {
		g.notified = make(map[string]int64, len(ids))
	}
	for _, id := range ids {
		g.notified[id] = max(g.notified[id], seq)
	}
}

// takeNotified returns the recomputes notified since the last call.
func (g *GoldenStream) takeNotified() map[string]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.notified
	g.notified = nil
	return n
}

// GoldenStreamCaughtUp reports whether the stream has published (or,
// with the state it read later, superseded) every change in the feed: its
// saved cursor is at the feed's last change. A bench waits on it.
func GoldenStreamCaughtUp(ctx context.Context, feed hub.ChangeFeed, positions Positions) (bool, error) {
	after, err := goldenStreamSaved(ctx, positions)
	if err != nil {
		return false, err
	}
	rest, err := feed.Changes(ctx, after, 1)
	if err != nil {
		return false, fmt.Errorf("golden stream: %w", err)
	}
	return len(rest) == 0, nil
}

// goldenStreamSaved reads the stream's saved outbox cursor (0 before the
// first save).
func goldenStreamSaved(ctx context.Context, positions Positions) (int64, error) {
	b, err := positions.Position(ctx, goldenStreamPosition)
	if err != nil {
		return 0, fmt.Errorf("golden stream position: %w", err)
	}
	if len(b) == 0 {
		return 0, nil
	}
	after, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("golden stream position %q: %w", b, err)
	}
	return after, nil
}

func (g *GoldenStream) publish(ctx context.Context, changes []hub.GoldenChange) error {
	// Only the last change of an id in a batch matters: the value is the
	// full current state anyway.
	last := map[string]int{}
	// A value change after an upsert or a sources change of the same id
	// publishes under the earlier op: write-back skips value changes and
	// must still see the other.
	op := map[string]string{}
	for i, c := range changes {
		last[c.GoldenID] = i
		if c.Op != hub.ChangeValue || op[c.GoldenID] == "" || op[c.GoldenID] == hub.ChangeMerged || op[c.GoldenID] == hub.ChangeRetired {
			op[c.GoldenID] = c.Op
		}
	}
	msgs := make([]bus.Message, 0, len(last))
	topic := g.Topics.GoldenChanges()
	var states map[string]*hub.GoldenCustomer
	if r, ok := g.Customers.(hub.GoldenStateReader); ok {
		var ids []string
		for i, c := range changes {
			if last[c.GoldenID] == i && c.Op != hub.ChangeMerged && c.Op != hub.ChangeRetired {
				ids = append(ids, c.GoldenID)
			}
		}
		var err error
		if states, err = r.GoldenStates(ctx, ids); err != nil {
			return fmt.Errorf("golden states: %w", err)
		}
	}
	for i, c := range changes {
		if last[c.GoldenID] != i {
			continue
		}
		key := []byte(c.GoldenID)
		seq := strconv.FormatInt(c.Seq, 10)
		c.Op = op[c.GoldenID]
		switch c.Op {
		case hub.ChangeMerged:
			msgs = append(msgs, bus.Message{Topic: topic, Key: key, Headers: map[string]string{"op": c.Op, "merged_into": c.Survivor, "seq": seq}})
			continue
		case hub.ChangeRetired:
			msgs = append(msgs, bus.Message{Topic: topic, Key: key, Headers: map[string]string{"op": c.Op, "seq": seq}})
			continue
		}
		var st hub.GoldenState
		if v, ok := states[c.GoldenID]; ok {
			st = hub.GoldenState{ID: v.ID, Customer: v.Customer, Sources: v.Sources, Merged: v.MergedFrom, UpdatedAt: v.UpdatedAt, Seq: c.Seq, Value: v.Value}
		} else if states != nil && c.Op == hub.ChangeValue {
			// A value change of a golden no longer active: the merge or
			// retirement that ended it wrote its own change, later in the
			// feed or published already, which says where it went; so
			// does an unmerge that made it active again. Finding its
			// survivor here was a tenth of the stream's work in a first
			// sync with the value figures on.
			continue
		} else {
			// Not active any more (or no batch reader): find where it went,
			// by its merges alone when the store can (the survivor's
			// customer 360, read to take its id, was most of this path's
			// cost: a change of a golden merged since, common in a first
			// sync with the value figures on).
			if sr, ok := g.Customers.(hub.GoldenSurvivorReader); ok && states != nil {
				to, err := sr.GoldenSurvivor(ctx, c.GoldenID)
				if errors.Is(err, hub.ErrNotFound) {
					continue // retired since: as below
				}
				if err != nil {
					return fmt.Errorf("golden %s: %w", c.GoldenID, err)
				}
				if to != c.GoldenID {
					msgs = append(msgs, bus.Message{Topic: topic, Key: key, Headers: map[string]string{"op": hub.ChangeMerged, "merged_into": to, "seq": seq}})
					continue
				}
				// Active again since the batch read (an unmerge): read it whole.
			}
			v, err := g.Customers.FindCustomerByID(ctx, c.GoldenID)
			if errors.Is(err, hub.ErrNotFound) {
				// Retired since this change was written: its retirement,
				// later in the feed, publishes the tombstone. Failing here
				// would retry this batch for ever.
				continue
			}
			if err != nil {
				return fmt.Errorf("golden %s: %w", c.GoldenID, err)
			}
			if v.ID != c.GoldenID {
				// Merged since this change was written: the merge entry later
				// in the feed (or already published) says where it went.
				msgs = append(msgs, bus.Message{Topic: topic, Key: key, Headers: map[string]string{"op": hub.ChangeMerged, "merged_into": v.ID, "seq": seq}})
				continue
			}
			st = hub.GoldenState{ID: v.ID, Customer: v.Customer, Sources: v.Sources, Merged: v.MergedFrom, UpdatedAt: v.UpdatedAt, Seq: c.Seq}
		}
		m, ok, err := g.fit(st, bus.Message{Topic: topic, Key: key, Headers: map[string]string{"op": c.Op, "seq": seq}})
		if err != nil {
			return err
		}
		if ok {
			msgs = append(msgs, m)
		}
	}
	return g.Publisher.Publish(ctx, msgs...)
}

// fit encodes st into m, in a bounded form when the whole state is over the
// topic's size limit: first without its sources (the part that grows with
// every source system; header bounded=sources), and when even the customer
// alone does not fit, not at all (ok false), with a log line and a metric.
// One large customer never stops the stream for the others.
func (g *GoldenStream) fit(st hub.GoldenState, m bus.Message) (bus.Message, bool, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return m, false, fmt.Errorf("encode golden %s: %w", st.ID, err)
	}
	m.Value = b
	sc, ok := g.Publisher.(SizeChecker)
	if !ok || sc.CheckSize(m) == nil {
		return m, true, nil
	}
	full := bus.MessageSize(m)
	st.Sources, st.Bounded = nil, hub.BoundedSources
	if m.Value, err = json.Marshal(st); err != nil {
		return m, false, fmt.Errorf("encode golden %s: %w", st.ID, err)
	}
	m.Headers["bounded"] = hub.BoundedSources
	if sc.CheckSize(m) == nil {
		g.count(hub.BoundedSources)
		g.log().Warn("golden state over the topic's size limit: published without its sources",
			"golden_id", st.ID, "bytes", full, "limit", sc.MaxMessageBytes(m.Topic))
		return m, true, nil
	}
	g.count("skipped")
	g.log().Error("golden state over the topic's size limit even without its sources: not published; read it from the API",
		"golden_id", st.ID, "bytes", full, "limit", sc.MaxMessageBytes(m.Topic))
	return m, false, nil
}

func (g *GoldenStream) count(how string) {
	if g.Metrics != nil {
		g.Metrics.GoldenTooLarge.WithLabelValues(how).Inc()
	}
}

func (g *GoldenStream) log() *slog.Logger {
	if g.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Logger
}
