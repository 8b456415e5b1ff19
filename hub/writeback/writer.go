package writeback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/internal/grace"
	"github.com/crmhub/crmhub/internal/retry"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// ReasonWriteback is the dead-letter reason class of a golden state that
// could not be written to a target record.
const ReasonWriteback = "writeback_error"

// Target is what one write-back target writes.
type Target struct {
	Name   string
	System string // the records written are the golden customer's source records in System/Entity
	Entity string
	// Mapping is the reverse mapping (golden customer -> system fields).
	Mapping *mapping.Mapping
	// Fields is the allow-list of fields the system owns: only they are
	// written, hashed and compared.
	Fields []string
	// Touch are written along with a write, never compared (a change
	// timestamp the system's incremental reader needs).
	Touch []string
	// Create writes golden customers the system does not have, with the
	// golden id as record id; off, only existing records are updated.
	Create bool
	// OnConflict decides a field a person changed in the system after the
	// hub's last read of the record (the write was refused as a conflict),
	// once the hub has read that edit: ConflictSystem (the default),
	// ConflictHub or ConflictSteward.
	OnConflict string
	// MaxConflictTries bounds the retries of a conflicted write whose edit
	// the hub does not read; then it becomes a steward task. 0 means
	// DefaultMaxConflictTries.
	MaxConflictTries int
	// Whole sends every allow-listed field when any of them changed (an
	// export line must be complete); otherwise only the fields whose golden
	// value changed are written, so a field the system holds its own edit
	// in is never written as a side effect of another field's change.
	// Either way a record is sent only when a field changed.
	Whole bool
}

// Conflict policies (Target.OnConflict).
const (
	// ConflictSystem keeps the system's edit in a field when the system's
	// value is still held by the golden customer (a union field kept it)
	// or the edit is newer than the source edit the golden value comes
	// from; otherwise the golden value is written.
	ConflictSystem = "system"
	// ConflictHub writes the golden value once the hub has read the edit.
	ConflictHub = "hub"
	// ConflictSteward writes neither: the field becomes a steward task with
	// both values.
	ConflictSteward = "steward"
)

// DefaultMaxConflictTries is how often a conflicted write is retried
// before it becomes a steward task: with the backoff from 0.5 s to 30 s,
// about two minutes.
const DefaultMaxConflictTries = 8

// Consumer is a Kafka consumer-group member on the golden changes topic.
type Consumer interface {
	Fetch(ctx context.Context, max int, wait time.Duration) ([]bus.Message, error)
	Commit(ctx context.Context, msgs []bus.Message) error
}

// Publisher sends dead letters.
type Publisher interface {
	Publish(ctx context.Context, msgs ...bus.Message) error
}

// Writer runs one target.
type Writer struct {
	Target      Target
	Destination sdk.Destination // configured and opened
	Consumer    Consumer
	Ledger      Ledger
	Publisher   Publisher
	Topics      hub.Topics
	BatchSize   int
	BatchWait   time.Duration
	Metrics     *Metrics
	Logger      *slog.Logger
	// Mappings, when set, is asked for the reverse mapping by name before
	// each batch, so a mapping reload reaches a running writer (the server
	// passes its current set's ByName). A name that is gone or no longer a
	// reverse mapping keeps the mapping the writer has, like a refused
	// reload keeps the running set.
	Mappings func(name string) (*mapping.Mapping, bool)
	// OnBatch, when set, is told what each batch wrote (tests).
	OnBatch func(written []sdk.Record)
	// States, when set, reads golden customers' current state to retry a
	// write a destination refused as a conflict (see retryConflicts);
	// without it a conflicted record waits for the next golden change.
	States hub.GoldenStateReader

	conflicts map[string]*conflict // by golden id

	// totals are counts not yet added to the store's totals (TotalsLog).
	totals map[string]int64

	refused *mapping.Mapping // the last refused lookup, warned about once
	missing bool             // the name was missing, warned about once
}

// refresh takes the current version of the target's reverse mapping.
func (w *Writer) refresh() {
	if w.Mappings == nil || w.Target.Mapping == nil {
		return
	}
	m, ok := w.Mappings(w.Target.Mapping.Name())
	switch {
	case ok && m == w.Target.Mapping:
	case ok && m.Reverse():
		if m.Version() != w.Target.Mapping.Version() {
			w.Logger.Info("write-back: reverse mapping reloaded", "target", w.Target.Name,
				"mapping", m.Name(), "version", m.Version())
		}
		w.Target.Mapping, w.refused, w.missing = m, nil, false
	case !ok && !w.missing || ok && m != w.refused:
		// Warned once per refused version (or once while it is missing).
		w.refused, w.missing = m, !ok
		w.Logger.Warn("write-back: reloaded mapping set has no usable reverse mapping of this name; keeping the running one",
			"target", w.Target.Name, "mapping", w.Target.Mapping.Name())
	}
}

// Run writes until ctx is done. Offsets are committed after the batch was
// written and its per-record results recorded (ledger or dead letter), so a
// crash replays at most one batch, which the ledger recognises.
func (w *Writer) Run(ctx context.Context) error {
	if w.BatchSize == 0 {
		w.BatchSize = 200
	}
	if w.BatchWait == 0 {
		w.BatchWait = 100 * time.Millisecond
	}
	log := w.Logger.With("target", w.Target.Name)
	if err := w.loadConflicts(ctx); err != nil {
		// Those records then wait for their customers' next golden change.
		log.Warn("write-back: conflicts left by the last run not loaded", "err", err)
	}
	for {
		msgs, err := w.fetch(ctx)
		if errors.Is(err, errRetryDue) {
			if err := w.retryConflicts(ctx, time.Now()); err != nil && ctx.Err() == nil {
				log.Warn("write-back: conflict retry failed, retrying", "err", err)
			}
			w.flushTotals(ctx, log)
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("write-back: fetch failed, retrying", "err", err)
			if !retry.Sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		for attempt := 0; ; attempt++ {
			err = w.batch(ctx, msgs)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			// The destination failed as a whole (unreachable, plugin
			// restarting): nothing is committed, the batch is retried.
			log.Warn("write-back: batch failed, retrying", "err", err, "attempt", attempt+1)
			if !retry.Sleep(ctx, retry.Delay(500*time.Millisecond, 10*time.Second, attempt)) {
				return nil
			}
		}
		w.flushTotals(ctx, log)
		if err := w.Consumer.Commit(ctx, msgs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("write-back: commit failed; the batch will be seen again and skipped by the ledger", "err", err)
		}
	}
}

// wholeState reads a bounded golden state whole from the store; nil when
// the customer is no longer active.
func (w *Writer) wholeState(ctx context.Context, st hub.GoldenState) (*hub.GoldenState, error) {
	if w.States == nil {
		w.Logger.Warn("write-back: golden state arrived bounded and the writer has no store to read it whole from; skipped",
			"target", w.Target.Name, "golden_id", st.ID, "bounded", st.Bounded)
		return nil, nil
	}
	got, err := w.States.GoldenStates(ctx, []string{st.ID})
	if err != nil {
		return nil, fmt.Errorf("read bounded golden %s whole: %w", st.ID, err)
	}
	v, ok := got[st.ID]
	if !ok {
		return nil, nil
	}
	return &hub.GoldenState{ID: v.ID, Customer: v.Customer, Sources: v.Sources, Merged: v.MergedFrom, UpdatedAt: v.UpdatedAt, Seq: st.Seq}, nil
}

// count adds one to a write-back counter ("records" by result, "skipped"
// by reason) and to the totals the store keeps across restarts.
func (w *Writer) count(kind, label string) {
	switch kind {
	case "records":
		w.Metrics.Records.WithLabelValues(w.Target.Name, label).Inc()
	default:
		w.Metrics.Skipped.WithLabelValues(w.Target.Name, label).Inc()
	}
	if w.totals == nil {
		w.totals = map[string]int64{}
	}
	w.totals[kind+"/"+label]++
}

// flushTotals adds the counts since the last flush to the store's totals;
// on failure they are kept for the next one.
func (w *Writer) flushTotals(ctx context.Context, log *slog.Logger) {
	tl, ok := w.Ledger.(TotalsLog)
	if !ok || len(w.totals) == 0 {
		return
	}
	if err := tl.AddTotals(ctx, w.Target.Name, w.totals); err != nil {
		if ctx.Err() == nil {
			log.Warn("write-back: counter totals not stored; kept for the next batch", "err", err)
		}
		return
	}
	clear(w.totals)
}

// errRetryDue: fetch stopped waiting because a conflict retry is due.
var errRetryDue = errors.New("conflict retry due")

// fetch waits for the next golden changes, or until the earliest conflict
// retry is due.
func (w *Writer) fetch(ctx context.Context) ([]bus.Message, error) {
	at, ok := w.nextRetry()
	if !ok {
		return w.Consumer.Fetch(ctx, w.BatchSize, w.BatchWait)
	}
	fctx, cancel := context.WithDeadlineCause(ctx, at, errRetryDue)
	defer cancel()
	msgs, err := w.Consumer.Fetch(fctx, w.BatchSize, w.BatchWait)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(fctx), errRetryDue) {
		return nil, errRetryDue
	}
	return msgs, err
}

// pending is one target record to write.
type pending struct {
	golden string
	want   map[string]any // the allow-listed fields' golden values
	sys    map[string]any // the system's own record, reverse-mapped; nil when the hub has none
	// keep are fields whose system edit stays (Target.OnConflict);
	// steward those handed to a steward, with both values.
	keep    map[string]bool
	steward map[string]fieldConflict
	whole   string // hash of all of want, as ledgers before per-field hashes kept it
	touch   map[string]any
	seen    time.Time
	rec     sdk.Record
	// state and own, when the hub holds the system's record: for deciding
	// a field the system changed after crmhub's last write (decide).
	state *hub.GoldenState
	own   *hub.SourceRecordRef
}

// fieldConflict is what the hub and the system hold of one field a steward
// decides.
type fieldConflict struct {
	Hub    any `json:"hub"`
	System any `json:"system"`
}

func (w *Writer) batch(ctx context.Context, msgs []bus.Message) error {
	w.refresh()
	// Only the last state of a golden id in the batch matters: each is the
	// full state.
	last := map[string]int{}
	for i, m := range msgs {
		// A value change (stage, segment or ABC class moved) leaves
		// every golden field as it was: nothing to write.
		if m.Headers["op"] != hub.ChangeValue {
			last[string(m.Key)] = i
		}
	}
	var todo []pending
	var dls []*hub.DeadLetter
	var gone []string
	for i, m := range msgs {
		if j, ok := last[string(m.Key)]; !ok || j != i {
			continue
		}
		if len(m.Value) == 0 {
			// A tombstone (merged/retired id): the survivor's state follows.
			if _, ok := w.conflicts[string(m.Key)]; ok {
				delete(w.conflicts, string(m.Key))
				gone = append(gone, string(m.Key))
			}
			continue
		}
		var st hub.GoldenState
		if err := json.Unmarshal(m.Value, &st); err != nil {
			dls = append(dls, w.deadLetter(string(m.Key), "", "", fmt.Sprintf("golden state is not JSON: %v", err), m.Value))
			continue
		}
		if st.Bounded != "" {
			// Cut to fit the topic: without its sources the writer would
			// not know the system's records. The store has it whole.
			whole, err := w.wholeState(ctx, st)
			if err != nil {
				return err
			}
			if whole == nil {
				continue // gone since: its tombstone follows
			}
			st = *whole
		}
		// A newer state replaces a conflicted one waiting for its retry;
		// what the conflict knows (the version the refused write was
		// based on) still decides the system's edit.
		todo = append(todo, w.plan(st, &dls)...)
	}
	out, err := w.writeAll(ctx, todo, dls)
	if err != nil {
		return err
	}
	sctx, cancel := grace.Outlive(ctx, grace.Period)
	defer cancel()
	return w.settle(sctx, out, gone, time.Now())
}

// loadConflicts schedules the conflicts a writer before this one left
// waiting, due at once; steward tasks stay as they are.
func (w *Writer) loadConflicts(ctx context.Context) error {
	cl, ok := w.conflictLog()
	if !ok {
		return nil
	}
	cs, err := cl.Conflicts(ctx, w.Target.Name)
	if err != nil {
		return fmt.Errorf("target %s: %w", w.Target.Name, err)
	}
	now := time.Now()
	if w.conflicts == nil {
		w.conflicts = map[string]*conflict{}
	}
	for _, c := range cs {
		w.conflicts[c.GoldenID] = &conflict{next: now, delay: conflictRetryFirst, seen: c.Seen, tries: c.Tries, steward: c.Steward, detail: c.Detail}
	}
	return nil
}

// conflictLog is the Ledger as a ConflictLog, when it is one and the
// writer retries conflicts at all (States set).
func (w *Writer) conflictLog() (ConflictLog, bool) {
	cl, ok := w.Ledger.(ConflictLog)
	return cl, ok && w.States != nil
}

// outcome is what writing a batch of pending records came to, by golden id.
type outcome struct {
	refused map[string]time.Time // conflicts: the version each refused write was based on
	steward map[string]string    // golden id -> detail of the fields handed to a steward
	settled map[string]bool      // written or decided: no conflict left
}

// settle schedules retries for refused writes, turns those out of tries
// into steward tasks, forgets conflicts that are settled, and keeps the
// ConflictLog in step.
func (w *Writer) settle(ctx context.Context, out outcome, gone []string, now time.Time) error {
	if w.States == nil {
		return nil
	}
	if w.conflicts == nil {
		w.conflicts = map[string]*conflict{}
	}
	maxTries := w.Target.MaxConflictTries
	if maxTries <= 0 {
		maxTries = DefaultMaxConflictTries
	}
	var set []hub.WritebackConflict
	clear := gone
	log := w.Logger.With("target", w.Target.Name)
	// Steward tasks are counted once they are in the store: the metric
	// never shows a task a steward cannot find.
	stewards := 0
	defer func() {
		for range stewards {
			w.count("skipped", SkipSteward)
		}
	}()
	for id, seen := range out.refused {
		c := w.conflicts[id]
		if c == nil {
			c = &conflict{delay: conflictRetryFirst / 2, seen: seen}
			w.conflicts[id] = c
		}
		c.tries++
		c.delay = min(2*c.delay, conflictRetryMax)
		c.next = now.Add(c.delay)
		if c.tries >= maxTries && !c.steward {
			c.steward = true
			c.detail = fmt.Sprintf(`{"reason":"the target record changed in the system and the hub has not read that edit after %d tries"}`, c.tries)
			stewards++
			log.Warn("write-back: conflict handed to a steward after its retries", "golden_id", id, "tries", c.tries)
		}
		set = append(set, c.entry(id))
	}
	for id, detail := range out.steward {
		if _, refused := out.refused[id]; refused {
			continue
		}
		c := w.conflicts[id]
		if c == nil {
			c = &conflict{}
			w.conflicts[id] = c
		}
		if !c.steward || c.detail != detail {
			stewards++
			log.Info("write-back: a field changed in the system differs from the golden value; handed to a steward", "golden_id", id)
		}
		c.steward, c.detail = true, detail
		set = append(set, c.entry(id))
	}
	for id := range out.settled {
		if _, ok := out.steward[id]; ok {
			continue
		}
		if _, ok := out.refused[id]; ok {
			continue
		}
		if _, ok := w.conflicts[id]; ok {
			delete(w.conflicts, id)
			clear = append(clear, id)
		}
	}
	cl, ok := w.conflictLog()
	if !ok {
		return nil
	}
	if err := cl.SetConflicts(ctx, w.Target.Name, set, clear); err != nil {
		stewards = 0
		return err
	}
	return nil
}

// retryConflicts writes again the golden customers whose write conflicted
// and whose retry is due, from their current state in the store. The
// system's edit that caused the conflict comes in through its source; when
// survivorship keeps the golden values as they were, no new golden change
// follows, so without this the system would keep its edit and the other
// systems the golden value.
func (w *Writer) retryConflicts(ctx context.Context, now time.Time) error {
	var ids []string
	for id, c := range w.conflicts {
		if !c.steward && !c.next.After(now) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	// Not retried (the store or the destination failed): each waits for
	// its next retry, instead of being due again at once.
	keep := func() {
		for _, id := range ids {
			c := w.conflicts[id]
			c.next = now.Add(c.delay)
		}
	}
	w.refresh()
	states, err := w.States.GoldenStates(ctx, ids)
	if err != nil {
		keep()
		return fmt.Errorf("target %s: conflict retry: %w", w.Target.Name, err)
	}
	var todo []pending
	var dls []*hub.DeadLetter
	var gone []string
	for _, id := range ids {
		v, ok := states[id]
		if !ok {
			// Merged or retired since: the survivor's state, or none,
			// comes through the topic.
			delete(w.conflicts, id)
			gone = append(gone, id)
			continue
		}
		todo = append(todo, w.plan(hub.GoldenState{ID: v.ID, Customer: v.Customer, Sources: v.Sources,
			Merged: v.MergedFrom, UpdatedAt: v.UpdatedAt}, &dls)...)
	}
	out, err := w.writeAll(ctx, todo, dls)
	if err != nil {
		keep()
		return err
	}
	sctx, cancel := grace.Outlive(ctx, grace.Period)
	defer cancel()
	return w.settle(sctx, out, gone, now)
}

// conflict is a golden customer whose write a destination refused as a
// conflict: waiting for its retry, or for a steward.
type conflict struct {
	next    time.Time
	delay   time.Duration
	seen    time.Time // the target record's version the refused write was based on
	tries   int
	steward bool
	detail  string
}

func (c *conflict) entry(golden string) hub.WritebackConflict {
	return hub.WritebackConflict{GoldenID: golden, Seen: c.seen, Tries: c.tries, Steward: c.steward, Detail: c.detail}
}

const (
	conflictRetryFirst = 500 * time.Millisecond
	conflictRetryMax   = 30 * time.Second
)

// nextRetry is when the earliest conflict retry is due; ok is false when
// none waits.
func (w *Writer) nextRetry() (at time.Time, ok bool) {
	for _, c := range w.conflicts {
		if c.steward {
			continue
		}
		if !ok || c.next.Before(at) {
			at, ok = c.next, true
		}
	}
	return at, ok
}

// plan turns one golden state into the target records to write.
func (w *Writer) plan(st hub.GoldenState, dls *[]*hub.DeadLetter) []pending {
	t := w.Target
	want, err := w.fields(st.ID, st.Customer, false)
	if err != nil {
		w.count("skipped", SkipMapping)
		*dls = append(*dls, w.mappingDeadLetter(st.ID, err))
		return nil
	}
	owned := pick(want, t.Fields)
	if len(owned) == 0 {
		w.count("skipped", SkipNoFields)
		return nil
	}
	whole := hashOf(owned)
	touch := pick(want, t.Touch)
	var ids []string
	own := map[string]hub.SourceRecordRef{}
	for _, s := range st.Sources {
		if s.System == t.System && s.SourceEntity == t.Entity {
			ids = append(ids, s.SourceID)
			own[s.SourceID] = s
		}
	}
	if len(ids) == 0 {
		if !t.Create {
			w.count("skipped", SkipNotInTarget)
			return nil
		}
		ids = []string{st.ID}
	}
	c := w.conflicts[st.ID]
	todo := make([]pending, 0, len(ids))
	for _, id := range ids {
		p := pending{golden: st.ID, want: owned, whole: whole, touch: touch, state: &st,
			rec: sdk.Record{Entity: t.Entity, ID: id, Op: sdk.OpUpsert, UpdatedAt: st.UpdatedAt}}
		if s, ok := own[id]; ok {
			p.seen = s.UpdatedAt
			p.own = &s
			if has, err := w.fields(st.ID, s.Customer, true); err == nil {
				p.sys = pick(has, t.Fields)
			}
			// The hub has read the edit a refused write ran into: decide
			// the fields it changed.
			if c != nil && p.sys != nil && s.UpdatedAt.After(c.seen) {
				w.decide(&p, st, s)
			}
		}
		todo = append(todo, p)
	}
	return todo
}

// decide applies the target's conflict policy to the fields in which the
// system's own record, edited after the hub's last read, differs from the
// golden values.
func (w *Writer) decide(p *pending, st hub.GoldenState, own hub.SourceRecordRef) {
	policy := w.Target.OnConflict
	if policy == ConflictHub {
		return
	}
	var held map[string]bool
	for _, f := range slices.Sorted(maps.Keys(p.want)) {
		sv, ok := p.sys[f]
		if !ok || sameValue(sv, p.want[f]) {
			continue
		}
		if policy == ConflictSteward {
			if p.steward == nil {
				p.steward = map[string]fieldConflict{}
			}
			p.steward[f] = fieldConflict{Hub: p.want[f], System: sv}
			continue
		}
		if held == nil {
			held = leaves(st.Customer)
		}
		// Kept when the golden customer still holds the system's value (a
		// union field kept it: writing would drop it everywhere), or when
		// the edit is newer than the source edit the golden value comes
		// from.
		if held[leafKey(sv)] || own.UpdatedAt.After(w.origin(st, own, f, p.want[f])) {
			if p.keep == nil {
				p.keep = map[string]bool{}
			}
			p.keep[f] = true
		}
	}
}

// origin is when the newest other source record holding v in field f was
// updated; zero when none does.
func (w *Writer) origin(st hub.GoldenState, own hub.SourceRecordRef, f string, v any) time.Time {
	var at time.Time
	for _, s := range st.Sources {
		if s.System == own.System && s.SourceEntity == own.SourceEntity && s.SourceID == own.SourceID {
			continue
		}
		m, err := w.fields(st.ID, s.Customer, true)
		if err != nil {
			continue
		}
		if sv, ok := m[f]; ok && sameValue(sv, v) && s.UpdatedAt.After(at) {
			at = s.UpdatedAt
		}
	}
	return at
}

// leaves lists the string and number values of a customer, folded, to ask
// whether it still holds a value.
func leaves(c hub.Customer) map[string]bool {
	b, _ := json.Marshal(c)
	var v any
	_ = json.Unmarshal(b, &v)
	return leavesOf(v)
}

// writtenFields names the golden customer's top-level fields that hold a
// value this write sent (payload: the target record written), so the
// store can tell crmhub's echo from a person's edit at the same version:
// in an echo these fields hold what was written.
func writtenFields(c hub.Customer, payload []byte) []string {
	var sent map[string]any
	if json.Unmarshal(payload, &sent) != nil {
		return nil
	}
	vals := map[string]bool{}
	for _, v := range sent {
		if v != nil {
			vals[leafKey(v)] = true
		}
	}
	b, _ := json.Marshal(c)
	var top map[string]any
	_ = json.Unmarshal(b, &top)
	var out []string
	for f, v := range top {
		if f == "updated_at" || f == "created_at" {
			continue
		}
		if held := leavesOf(v); len(held) > 0 {
			for k := range held {
				if vals[k] {
					out = append(out, f)
					break
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// leavesOf lists the string and number values in a decoded JSON value,
// folded.
func leavesOf(v any) map[string]bool {
	out := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case nil:
		default:
			out[leafKey(x)] = true
		}
	}
	walk(v)
	return out
}

func leafKey(v any) string { return strings.ToLower(strings.TrimSpace(fmt.Sprint(v))) }

// sameValue compares two reverse-mapped field values as JSON.
func sameValue(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// writeAll writes todo and publishes the dead letters of the batch.
func (w *Writer) writeAll(ctx context.Context, todo []pending, dls []*hub.DeadLetter) (outcome, error) {
	written, out, err := w.write(ctx, todo, &dls)
	if err != nil {
		return outcome{}, err
	}
	pctx, cancel := grace.Outlive(ctx, grace.Period)
	defer cancel()
	if err := w.publishDeadLetters(pctx, dls); err != nil {
		return outcome{}, err
	}
	if w.OnBatch != nil && len(written) > 0 {
		w.OnBatch(written)
	}
	return out, nil
}

func (w *Writer) write(ctx context.Context, todo []pending, dls *[]*hub.DeadLetter) (written []sdk.Record, out outcome, err error) {
	t := w.Target
	out = outcome{refused: map[string]time.Time{}, steward: map[string]string{}, settled: map[string]bool{}}
	if len(todo) == 0 {
		return nil, out, nil
	}
	ids := make([]string, 0, len(todo))
	for _, p := range todo {
		ids = append(ids, p.rec.ID)
	}
	hashes, touches, err := w.Ledger.Written(ctx, t.Name, ids)
	if err != nil {
		return nil, out, err
	}
	// When crmhub last wrote each record: a hub copy of the system older
	// than that write (not yet read back, or read back as crmhub's echo
	// and kept at the golden value's business time) does not say what the
	// system holds now.
	// Asked only for the records whose decision depends on it.
	el, echo := w.Ledger.(EchoLedger)
	var writtenAt map[string]time.Time
	if timed := needWriteTime(todo, hashes); echo && len(timed) > 0 {
		if writtenAt, err = el.WrittenAt(ctx, t.Name, timed); err != nil {
			return nil, out, err
		}
	}
	drift := drifted(todo, hashes, writtenAt, echo)
	record, recordTouch, echoes := map[string]string{}, map[string]string{}, map[string]hub.WriteEcho{}
	var recs []sdk.Record
	var sent []pending
	var sentHashes []string
	for _, p := range todo {
		prev, legacy := parseLedger(hashes[p.rec.ID])
		moved := drift[p.rec.ID]
		if len(moved) > 0 && p.keep == nil && p.steward == nil {
			// The system changed a field crmhub had written, after that
			// write, and survivorship kept another value: the same
			// decision as after a refused write (the target's policy).
			w.decide(&p, *p.state, *p.own)
		}
		decided := make(map[string]string, len(p.want))
		send := map[string]any{}
		changed, kept := false, false
		for f, v := range p.want {
			h := valueHash(v)
			decided[f] = h
			if (legacy == p.whole || prev[f] == h) && !moved[f] {
				continue // written (or found) already
			}
			changed = true
			switch {
			case p.sys != nil && sameValue(p.sys[f], v) && !staleCopy(p, writtenAt):
				// The system holds it already (it made the edit itself).
			case p.keep[f]:
				kept = true
			case hasField(p.steward, f):
				delete(decided, f) // undecided until a steward acts
			default:
				send[f] = v
			}
		}
		if len(p.steward) > 0 {
			b, _ := json.Marshal(p.steward)
			out.steward[p.golden] = string(b)
		}
		if t.Whole && len(send) > 0 {
			for f, v := range p.want {
				if !p.keep[f] && !hasField(p.steward, f) {
					send[f] = v
				}
			}
		}
		enc := encodeLedger(decided)
		if w.Logger.Enabled(ctx, slog.LevelDebug) {
			w.Logger.Debug("write-back: decided", "target", t.Name, "golden_id", p.golden, "record", p.rec.ID,
				"changed", changed, "send", len(send), "kept", kept, "moved", len(moved), "seen", p.seen)
		}
		switch {
		case !changed:
			w.count("skipped", SkipUnchanged)
			out.settled[p.golden] = true
		case len(send) == 0:
			// Nothing to write; remember the values as decided, so the
			// next state with them is recognised without a look. The touch
			// fields of crmhub's last write stay known.
			reason := SkipSystemHas
			if kept {
				reason = SkipSystemKept
				w.Logger.Info("write-back: the system's own newer edit kept; golden value not written",
					"target", t.Name, "system", t.System, "golden_id", p.golden)
			}
			w.count("skipped", reason)
			record[p.rec.ID] = enc
			if tj, ok := touches[p.rec.ID]; ok {
				recordTouch[p.rec.ID] = tj
			}
			out.settled[p.golden] = true
		default:
			r := p.rec
			r.Payload = payload(send, p.touch)
			r.Meta = writeMeta(p.seen, touches[p.rec.ID])
			recs = append(recs, r)
			sent = append(sent, p)
			sentHashes = append(sentHashes, enc)
		}
	}
	if len(recs) > 0 {
		res, err := w.Destination.Write(ctx, recs)
		if err != nil {
			return nil, out, fmt.Errorf("target %s: write: %w", t.Name, err)
		}
		if len(res) != len(recs) {
			return nil, out, fmt.Errorf("target %s: destination returned %d results for %d records", t.Name, len(res), len(recs))
		}
		for i, r := range res {
			switch {
			case strings.HasPrefix(r.Error, sdk.ConflictPrefix):
				// Someone changed the record in the system after the hub
				// last read it: writing would overwrite an edit the hub
				// has not seen. Nothing is recorded; the record is
				// retried from the store's state once the edit has come
				// in through the source, and its fields decided then.
				w.count("skipped", SkipConflict)
				out.refused[sent[i].golden] = sent[i].seen
				w.Logger.Info("write-back: target record changed in the system since the hub read it; not overwritten",
					"target", t.Name, "system", t.System, "golden_id", sent[i].golden, "seen", sent[i].seen)
			case r.Error != "":
				w.count("records", "failed")
				d := w.deadLetter(sent[i].golden, recs[i].ID, "", r.Error, recs[i].Payload)
				*dls = append(*dls, d)
				out.settled[sent[i].golden] = true
			default:
				record[recs[i].ID] = sentHashes[i]
				if tj := touchWritten(sent[i].touch, r.Meta[sdk.MetaLastWritten]); tj != "" {
					recordTouch[recs[i].ID] = tj
				}
				// Every write leaves an echo entry (the ledger then knows
				// crmhub wrote, not found, the values); one with the
				// version the destination set is recognised when read back.
				e := hub.WriteEcho{System: t.System, Entity: t.Entity}
				if at, err := time.Parse(time.RFC3339Nano, r.Meta[sdk.MetaWrittenAt]); err == nil {
					e.WrittenAt, e.BusinessAt = at, sent[i].rec.UpdatedAt
					if st := sent[i].state; st != nil {
						e.Golden, _ = json.Marshal(st.Customer)
						e.Fields = writtenFields(st.Customer, recs[i].Payload)
					}
				}
				echoes[recs[i].ID] = e
				written = append(written, recs[i])
				out.settled[sent[i].golden] = true
			}
		}
	}
	// What the destination did is recorded even when ctx ended during the
	// write: a lost ledger entry or conflict would make a restarted writer
	// decide the record again on less than this one knew.
	rctx, cancel := grace.Outlive(ctx, grace.Period)
	defer cancel()
	if err := w.Ledger.Record(rctx, t.Name, record, recordTouch, echoes); err != nil {
		return nil, out, err
	}
	// Counted once the ledger holds them: whoever sees the count (a
	// dashboard, a test waiting for it) finds the ledger rows too.
	for range written {
		w.count("records", "written")
	}
	return written, out, nil
}

func hasField(m map[string]fieldConflict, f string) bool {
	_, ok := m[f]
	return ok
}

// touchWritten is the touch JSON the ledger keeps for a write: the touch
// fields sent, overlaid with what the destination says it set itself (the
// version column from the target's clock).
func touchWritten(sent map[string]any, destMeta string) string {
	if len(sent) == 0 && destMeta == "" {
		return ""
	}
	all := make(map[string]any, len(sent)+1)
	for k, v := range sent {
		all[k] = v
	}
	if destMeta != "" {
		var set map[string]any
		if json.Unmarshal([]byte(destMeta), &set) == nil {
			for k, v := range set {
				all[k] = v
			}
		}
	}
	b, _ := json.Marshal(all)
	return string(b)
}

// The ledger keeps, per target record, a hash per allow-listed field
// ("f1:" and a JSON object), so a state is compared field by field: only
// fields whose golden value changed since crmhub wrote (or found, or left
// to the system) them are written. Ledgers written before kept one hash of
// all fields; such an entry still recognises the same values.
const ledgerFieldsPrefix = "f1:"

func encodeLedger(fields map[string]string) string {
	b, _ := json.Marshal(fields)
	return ledgerFieldsPrefix + string(b)
}

// parseLedger reads a ledger hash: per-field hashes, or the legacy hash of
// all fields.
func parseLedger(h string) (fields map[string]string, legacy string) {
	if rest, ok := strings.CutPrefix(h, ledgerFieldsPrefix); ok {
		_ = json.Unmarshal([]byte(rest), &fields)
		return fields, ""
	}
	if h == "" {
		return nil, "\x00" // matches no hash
	}
	return nil, h
}

func valueHash(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// drifted finds the fields the ledger says crmhub wrote (or found) with
// their golden value, but that the system's record, as the hub last read
// it, holds differently, read at or after crmhub's last write: the system
// changed them since, and the golden value must be written again (subject
// to the conflict policy). A record the hub has not read back since
// crmhub's last versioned write is not drift: the values it holds are
// older than the write. Needs the ledger's write times (EchoLedger);
// without them nothing drifts.
func drifted(todo []pending, hashes map[string]string, at map[string]time.Time, echo bool) map[string]map[string]bool {
	if !echo {
		return nil
	}
	var cand map[string]map[string]bool
	for _, p := range todo {
		// Without a write time the ledger's value was found in the system
		// (or written without a version): the hub's read of the system
		// is later, so a difference is the system's own change.
		if staleCopy(p, at) {
			continue
		}
		prev, legacy := parseLedger(hashes[p.rec.ID])
		for f, v := range p.want {
			sv, has := p.sys[f]
			if !has || sameValue(sv, v) || !(legacy == p.whole || prev[f] == valueHash(v)) {
				continue
			}
			if cand == nil {
				cand = map[string]map[string]bool{}
			}
			if cand[p.rec.ID] == nil {
				cand[p.rec.ID] = map[string]bool{}
			}
			cand[p.rec.ID][f] = true
		}
	}
	return cand
}

// needWriteTime lists the records whose decision depends on when crmhub
// last wrote them: a field the hub's copy of the system holds differently
// from a value the ledger says was written (drift, or a stale copy), or
// holds already where the ledger has no record of it (the system has it,
// unless the copy is stale).
func needWriteTime(todo []pending, hashes map[string]string) []string {
	var ids []string
	for _, p := range todo {
		if p.sys == nil || p.own == nil {
			continue
		}
		prev, legacy := parseLedger(hashes[p.rec.ID])
		for f, v := range p.want {
			sv, has := p.sys[f]
			if has && sameValue(sv, v) != (legacy == p.whole || prev[f] == valueHash(v)) {
				ids = append(ids, p.rec.ID)
				break
			}
		}
	}
	return ids
}

// staleCopy reports whether the hub's copy of p's record predates
// crmhub's last write to it: then the system holds what was written (or
// a newer edit), not necessarily the copy's value, and a golden value the
// copy happens to hold must be written all the same. The write is
// conditional on crmhub's last write, so it conflicts if a person edited
// the record since, and is decided once that edit is read.
func staleCopy(p pending, at map[string]time.Time) bool {
	wa, ok := at[p.rec.ID]
	return ok && p.seen.Before(wa)
}

// writeMeta is what a record tells a conditional destination: the version
// of the target record the hub last read, and what crmhub's own last write
// set.
func writeMeta(seen time.Time, lastWritten string) map[string]string {
	if seen.IsZero() && lastWritten == "" {
		return nil
	}
	m := make(map[string]string, 2)
	if !seen.IsZero() {
		m[sdk.MetaSeenVersion] = seen.UTC().Format(time.RFC3339Nano)
	}
	if lastWritten != "" {
		m[sdk.MetaLastWritten] = lastWritten
	}
	return m
}

// fields reverse-maps a customer. system marks the system's own record
// (for comparison only).
func (w *Writer) fields(goldenID string, c hub.Customer, system bool) (map[string]any, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode golden %s: %w", goldenID, err)
	}
	out, err := w.Target.Mapping.Apply(mapping.Input{Entity: hub.EntityCustomer, SourceID: goldenID, Payload: b})
	if err != nil {
		return nil, err
	}
	if out.Skip || len(out.Data) == 0 {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(out.Data, &m); err != nil {
		return nil, fmt.Errorf("reverse mapping %s: output: %w", w.Target.Mapping.Name(), err)
	}
	return m, nil
}

func pick(m map[string]any, keys []string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// hashOf hashes fields in key order: encoding/json sorts map keys.
func hashOf(m map[string]any) string {
	b, _ := json.Marshal(m)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func payload(owned, touch map[string]any) []byte {
	all := make(map[string]any, len(owned)+len(touch))
	for k, v := range touch {
		all[k] = v
	}
	for k, v := range owned {
		all[k] = v
	}
	b, _ := json.Marshal(all)
	return b
}

func (w *Writer) mappingDeadLetter(golden string, err error) *hub.DeadLetter {
	var re *mapping.RecordError
	field := ""
	if errors.As(err, &re) {
		field = re.Field
	}
	d := w.deadLetter(golden, "", field, err.Error(), nil)
	d.Mapping, d.MappingVersion = w.Target.Mapping.Name(), w.Target.Mapping.Version()
	return d
}

func (w *Writer) deadLetter(golden, id, field, reason string, payload []byte) *hub.DeadLetter {
	t := w.Target
	if id == "" {
		id = golden
	}
	return &hub.DeadLetter{Connector: t.Name, System: t.System, SourceEntity: t.Entity, SourceID: id, Field: field,
		ReasonClass: ReasonWriteback, Reason: reason, Meta: map[string]string{"golden_id": golden, "target": t.Name},
		Payload: validJSON(payload), At: time.Now().UTC()}
}

func validJSON(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}

func (w *Writer) publishDeadLetters(ctx context.Context, dls []*hub.DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	msgs := make([]bus.Message, 0, len(dls))
	for _, d := range dls {
		m, err := bus.DeadLetterMessage(w.Topics, d)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		w.Logger.Warn("write-back: record dead-lettered", "target", w.Target.Name, "field", d.Field)
	}
	if err := w.Publisher.Publish(ctx, msgs...); err != nil {
		return fmt.Errorf("target %s: dead letters: %w", w.Target.Name, err)
	}
	return nil
}
