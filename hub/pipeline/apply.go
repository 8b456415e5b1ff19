package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/internal/grace"
	"github.com/crmhub/crmhub/internal/retry"
)

// Consumer is a Kafka consumer-group member.
type Consumer interface {
	Fetch(ctx context.Context, max int, wait time.Duration) ([]bus.Message, error)
	Commit(ctx context.Context, msgs []bus.Message) error
}

// Applier is the store side of Apply and Ping.
type Applier interface {
	Apply(ctx context.Context, events []hub.Envelope) (hub.ApplyStats, error)
	Ping(ctx context.Context) error
}

// Apply consumes canonical records and applies them to the store.
type Apply struct {
	Consumer  Consumer
	Store     Applier
	Publisher Publisher // for records the store refuses
	Topics    hub.Topics
	// BatchSize is the most records one Fetch returns.
	BatchSize int
	// BatchWait is how long a Fetch that got fewer than BatchSize records
	// waits for more. 0 applies what has arrived at once: batches still
	// grow by themselves while the store applies the previous one, so a
	// wait only adds latency.
	BatchWait time.Duration
	// MaxBatchBytes bounds, in bytes of fetched messages, the backlog
	// joined into one store transaction (MaxCoalesce fetches at most):
	// the store holds several times a batch's bytes while it applies it
	// (decoded records, rows, golden records), so a byte bound is what
	// keeps the applier's memory flat when records are large. 0: no bound
	// beyond MaxCoalesce. memory_mb sets it.
	MaxBatchBytes int
	Metrics       *Metrics
	Logger        *slog.Logger
	Now           func() time.Time
	// OnApplied, when set, is told about every batch the store committed
	// (the golden change stream and tests hook in here).
	OnApplied func(events []hub.Envelope, stats hub.ApplyStats)

	paused atomic.Pointer[string] // why the applier waits for the store; nil when it does not
}

// Paused reports why the applier is waiting for the store (read-only, full,
// locked, unreachable), nil when it is applying: /readyz shows it.
func (a *Apply) Paused() error {
	if why := a.paused.Load(); why != nil {
		return fmt.Errorf("applier paused: %s", *why)
	}
	return nil
}

// pause records that the store failed for a reason that is not the
// records' (nil err resumes); nothing is dead-lettered meanwhile.
func (a *Apply) pause(err error) {
	if err == nil {
		if a.paused.Swap(nil) != nil {
			a.Logger.Info("store available again; applier resumed")
			if a.Metrics != nil {
				a.Metrics.ApplierPaused.Set(0)
			}
		}
		return
	}
	why := err.Error()
	if a.paused.Swap(&why) == nil {
		a.Logger.Warn("store unavailable; applier paused, retrying with backoff (nothing is dead-lettered)", "err", err)
	}
	if a.Metrics != nil {
		a.Metrics.ApplierPaused.Set(1)
		a.Metrics.ApplyError.WithLabelValues("store_unavailable").Inc()
	}
}

// MaxCoalesce bounds, in BatchSize units, how many fetched records the
// applier joins into one store transaction when a backlog has built up:
// under load one larger transaction costs far less per record than several
// small ones (fewer commits, shared lookups, pages written once), while a
// quiet stream is applied as soon as it arrives.
const MaxCoalesce = 8

// fetched is one Fetch, decoded.
type fetched struct {
	msgs   []bus.Message // offsets only once decoded: see decode
	events []hub.Envelope
	bad    []*hub.DeadLetter // not envelopes
	bytes  int               // of the messages' values, as fetched
}

// Run applies until ctx is done. Offsets are committed only after the store
// committed the batch, so a crash re-delivers at most what the store will
// recognise by event id and skip.
//
// Three stages overlap: one goroutine fetches and decodes the next batch,
// this one applies, and another commits the offsets of the batches the
// store has committed, in order.
func (a *Apply) Run(ctx context.Context) error {
	if a.Now == nil {
		a.Now = time.Now
	}
	ctx, cancel := context.WithCancel(ctx)
	in := make(chan fetched, MaxCoalesce)
	// With a byte bound, what is fetched ahead is bounded in bytes too:
	// one transaction's worth waits while the store applies another.
	var gate *byteGate
	if a.MaxBatchBytes > 0 {
		gate = newByteGate(2 * a.MaxBatchBytes)
	}
	fetchDone := make(chan struct{})
	go func() {
		defer close(fetchDone)
		a.fetchLoop(ctx, in, gate)
	}()
	commits := make(chan []bus.Message, 2*MaxCoalesce)
	committed := make(chan struct{})
	// Commits outlive a cancelled ctx by a grace period: what the store has
	// applied is committed on the way out, so a restart does not deliver
	// it again (harmless, the store skips it, but work).
	cctx, ccancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(committed)
		a.commitLoop(cctx, commits)
	}()
	// On the way out, the offsets of what the store committed are committed
	// first, then fetching stops: no goroutine outlives Run.
	defer func() {
		close(commits)
		select {
		case <-committed:
		case <-time.After(5 * time.Second):
			ccancel()
			<-committed
		}
		ccancel()
		cancel()
		<-fetchDone
	}()
	for {
		var f fetched
		select {
		case <-ctx.Done():
			return nil
		case f = <-in:
		}
		// Join what is already waiting, up to MaxCoalesce batches' worth.
	join:
		for len(f.msgs) < MaxCoalesce*max(a.BatchSize, 1) && (a.MaxBatchBytes <= 0 || f.bytes < a.MaxBatchBytes) {
			select {
			case g := <-in:
				f.msgs = append(f.msgs, g.msgs...)
				f.events = append(f.events, g.events...)
				f.bad = append(f.bad, g.bad...)
				f.bytes += g.bytes
			default:
				break join
			}
		}
		if err := a.applyFetched(ctx, f); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		gate.release(f.bytes)
		select {
		case commits <- f.msgs:
		case <-ctx.Done():
			// Applied: hand it over for the final commit if there is room.
			select {
			case commits <- f.msgs:
			default:
			}
			return nil
		}
	}
}

// fetchLoop fetches and decodes batches until ctx ends; a full in channel
// holds it back, so at most MaxCoalesce batches wait in memory, and so does
// gate (nil: none) once its bytes are taken.
func (a *Apply) fetchLoop(ctx context.Context, in chan<- fetched, gate *byteGate) {
	for {
		msgs, err := a.Consumer.Fetch(ctx, a.BatchSize, a.BatchWait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.Logger.Warn("fetch failed, retrying", "err", err)
			if !retry.Sleep(ctx, time.Second) {
				return
			}
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		f := a.decode(msgs)
		if !gate.acquire(ctx, f.bytes) {
			return
		}
		select {
		case in <- f:
		case <-ctx.Done():
			return
		}
	}
}

// commitLoop commits offsets in the order the store committed the batches;
// batches queued meanwhile go in one commit (per partition the highest
// offset wins). It returns when commits is closed and drained, or ctx ends.
func (a *Apply) commitLoop(ctx context.Context, commits <-chan []bus.Message) {
	for msgs := range commits {
	more:
		for {
			select {
			case m, ok := <-commits:
				if !ok {
					break more
				}
				msgs = append(msgs, m...)
			default:
				break more
			}
		}
		a.commit(ctx, msgs)
		if ctx.Err() != nil {
			return
		}
	}
}

// commit retries until the offsets are committed or ctx ends.
func (a *Apply) commit(ctx context.Context, msgs []bus.Message) {
	b := retry.NewBackoff(100*time.Millisecond, 5*time.Second)
	for {
		err := a.Consumer.Commit(ctx, msgs)
		if err == nil || ctx.Err() != nil {
			return
		}
		a.Logger.Warn("offset commit failed, retrying", "err", err)
		if !retry.Sleep(ctx, b.Next()) {
			return
		}
	}
}

func (a *Apply) decode(msgs []bus.Message) fetched {
	f := fetched{msgs: msgs, events: make([]hub.Envelope, 0, len(msgs))}
	for _, m := range msgs {
		var e hub.Envelope
		if err := json.Unmarshal(m.Value, &e); err != nil || e.EventID == "" {
			f.bad = append(f.bad, &hub.DeadLetter{ReasonClass: hub.ReasonApply, At: a.Now().UTC(), Raw: m.Value,
				Reason: fmt.Sprintf("topic %s partition %d offset %d: not a canonical envelope: %v", m.Topic, m.Partition, m.Offset, err)})
			continue
		}
		f.events = append(f.events, e)
	}
	// From here on the messages serve only to commit their offsets: their
	// values are decoded (or held by a dead letter), and keeping them
	// would hold every record twice until the commit.
	for i := range msgs {
		f.bytes += len(msgs[i].Value)
		msgs[i].Key, msgs[i].Value, msgs[i].Headers = nil, nil, nil
	}
	return f
}

func (a *Apply) applyFetched(ctx context.Context, f fetched) error {
	bad := f.bad
	if len(f.events) > 0 {
		refused, err := a.applyEvents(ctx, f.events)
		if err != nil {
			return err
		}
		bad = append(bad, refused...)
	}
	// The store has applied the batch: its dead letters are published even
	// when ctx ended meanwhile, so the batch's offsets can be committed on
	// the way out instead of the whole batch coming again after a restart.
	dctx, cancel := grace.Outlive(ctx, grace.Period)
	defer cancel()
	return a.deadLetter(dctx, bad)
}

// applyEvents applies the batch; if the store refuses it while reachable,
// the events are applied one by one so that one bad record goes to the
// dead-letter topic instead of blocking the partition forever.
func (a *Apply) applyEvents(ctx context.Context, events []hub.Envelope) ([]*hub.DeadLetter, error) {
	b := retry.NewBackoff(200*time.Millisecond, 10*time.Second)
	wait := func(err error) bool {
		a.pause(err)
		return retry.Sleep(ctx, b.Next())
	}
retry:
	for {
		stats, err := a.Store.Apply(ctx, events)
		if err == nil {
			a.pause(nil)
			a.applied(events, stats)
			return nil, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, hub.ErrUnavailable) {
			if !wait(err) {
				return nil, ctx.Err()
			}
			continue
		}
		if perr := a.Store.Ping(ctx); perr != nil {
			if !wait(perr) {
				return nil, ctx.Err()
			}
			continue
		}
		var refused []*hub.DeadLetter
		for _, e := range events {
			one := []hub.Envelope{e}
			stats, err := a.Store.Apply(ctx, one)
			if err == nil {
				a.applied(one, stats)
				continue
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, hub.ErrUnavailable) {
				// The store, not this record: wait, then the whole batch
				// again (what was applied already is skipped by its id).
				if !wait(err) {
					return nil, ctx.Err()
				}
				continue retry
			}
			a.Metrics.ApplyError.WithLabelValues("refused").Inc()
			refused = append(refused, &hub.DeadLetter{Connector: e.Connector, System: e.System, SourceEntity: e.SourceEntity,
				SourceID: e.SourceID, Mapping: e.Mapping, MappingVersion: e.MappingVersion, ReasonClass: hub.ReasonApply,
				Reason:  fmt.Sprintf("%s/%s id %s: store refused the record: %v", e.System, e.SourceEntity, e.SourceID, err),
				Payload: e.Data, At: a.Now().UTC()})
		}
		a.pause(nil)
		return refused, nil
	}
}

func (a *Apply) applied(events []hub.Envelope, stats hub.ApplyStats) {
	now := a.Now()
	for _, e := range events {
		a.Metrics.Consumed.WithLabelValues(e.Entity).Inc()
		if !e.ReadAt.IsZero() {
			a.Metrics.Latency.WithLabelValues(e.Entity).Observe(now.Sub(e.ReadAt).Seconds())
		}
		if !e.SourceUpdatedAt.IsZero() {
			a.Metrics.Freshness.WithLabelValues(e.Entity).Observe(now.Sub(e.SourceUpdatedAt).Seconds())
		}
	}
	if a.OnApplied != nil {
		a.OnApplied(events, stats)
	}
}

func (a *Apply) deadLetter(ctx context.Context, dls []*hub.DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	msgs := make([]bus.Message, 0, len(dls))
	for _, d := range dls {
		m, err := bus.DeadLetterMessage(a.Topics, d)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		conn := d.Connector
		if conn == "" {
			conn = "unknown" // a message that was not an envelope names no connector
		}
		a.Metrics.DeadLetters.WithLabelValues(conn, d.ReasonClass).Inc()
	}
	b := retry.NewBackoff(100*time.Millisecond, 10*time.Second)
	for {
		err := a.Publisher.Publish(ctx, msgs...)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.Canceled) {
			return err
		}
		a.Logger.Warn("dead-letter publish failed, retrying", "err", err)
		if !retry.Sleep(ctx, b.Next()) {
			return ctx.Err()
		}
	}
}

// byteGate bounds the bytes of fetched batches not yet applied. A batch
// larger than the bound passes when nothing else is held, so one large
// message never blocks the applier. A nil gate bounds nothing.
type byteGate struct {
	mu   sync.Mutex
	used int
	max  int
	wake chan struct{} // closed and replaced on every release
}

func newByteGate(max int) *byteGate {
	return &byteGate{max: max, wake: make(chan struct{})}
}

// acquire waits until n bytes fit (false when ctx ended first).
func (g *byteGate) acquire(ctx context.Context, n int) bool {
	if g == nil {
		return true
	}
	for {
		g.mu.Lock()
		if g.used == 0 || g.used+n <= g.max {
			g.used += n
			g.mu.Unlock()
			return true
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
	}
}

// release returns n bytes acquired before.
func (g *byteGate) release(n int) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.used -= n
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}
