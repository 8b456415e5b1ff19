package writeback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/pipeline"
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
}

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
	States pipeline.GoldenStateReader

	conflicts map[string]*conflict // by golden id

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
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("write-back: fetch failed, retrying", "err", err)
			if !sleep(ctx, time.Second) {
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
			if !sleep(ctx, min(time.Duration(attempt+1)*500*time.Millisecond, 10*time.Second)) {
				return nil
			}
		}
		if err := w.Consumer.Commit(ctx, msgs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("write-back: commit failed; the batch will be seen again and skipped by the ledger", "err", err)
		}
	}
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
	hash   string
	touch  string // JSON of the touch fields the write sets, "" if none
	seen   time.Time
	has    bool // the system's own record holds these values already
	rec    sdk.Record
}

func (w *Writer) batch(ctx context.Context, msgs []bus.Message) error {
	w.refresh()
	// Only the last state of a golden id in the batch matters: each is the
	// full state.
	last := map[string]int{}
	for i, m := range msgs {
		last[string(m.Key)] = i
	}
	var todo []pending
	var dls []*hub.DeadLetter
	var replaced []string
	for i, m := range msgs {
		if last[string(m.Key)] != i {
			continue
		}
		// A newer state replaces a conflicted one waiting for its retry.
		if _, ok := w.conflicts[string(m.Key)]; ok {
			delete(w.conflicts, string(m.Key))
			replaced = append(replaced, string(m.Key))
		}
		if len(m.Value) == 0 {
			continue // a tombstone (merged/retired id): the survivor's state follows
		}
		var st pipeline.GoldenState
		if err := json.Unmarshal(m.Value, &st); err != nil {
			dls = append(dls, w.deadLetter(string(m.Key), "", "", fmt.Sprintf("golden state is not JSON: %v", err), m.Value))
			continue
		}
		todo = append(todo, w.plan(st, &dls)...)
	}
	conflicts, err := w.writeAll(ctx, todo, dls)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, id := range conflicts {
		w.conflicted(id, conflictRetryFirst, now)
	}
	return w.logConflicts(ctx, conflicts, replaced)
}

// loadConflicts schedules the conflicts a writer before this one left
// waiting, due at once.
func (w *Writer) loadConflicts(ctx context.Context) error {
	cl, ok := w.conflictLog()
	if !ok {
		return nil
	}
	ids, err := cl.Conflicts(ctx, w.Target.Name)
	if err != nil {
		return fmt.Errorf("target %s: %w", w.Target.Name, err)
	}
	now := time.Now()
	for _, id := range ids {
		w.conflicted(id, conflictRetryFirst, now.Add(-conflictRetryFirst))
	}
	return nil
}

// logConflicts keeps the ConflictLog in step with the retries waiting.
func (w *Writer) logConflicts(ctx context.Context, add, clear []string) error {
	cl, ok := w.conflictLog()
	if !ok {
		return nil
	}
	return cl.SetConflicts(ctx, w.Target.Name, add, clear)
}

// conflictLog is the Ledger as a ConflictLog, when it is one and the
// writer retries conflicts at all (States set).
func (w *Writer) conflictLog() (ConflictLog, bool) {
	cl, ok := w.Ledger.(ConflictLog)
	return cl, ok && w.States != nil
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
		if !c.next.After(now) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	due := map[string]time.Duration{}
	for _, id := range ids {
		due[id] = w.conflicts[id].delay
		delete(w.conflicts, id)
	}
	// Not retried (the store or the destination failed): each waits for
	// its next retry as it did, instead of being due again at once.
	keep := func() {
		for id, d := range due {
			w.conflicted(id, d, now)
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
	for _, id := range ids {
		v, ok := states[id]
		if !ok {
			continue // merged or retired since: the survivor's state, or none, comes through the topic
		}
		todo = append(todo, w.plan(pipeline.GoldenState{ID: v.ID, Customer: v.Customer, Sources: v.Sources,
			Merged: v.MergedFrom, UpdatedAt: v.UpdatedAt}, &dls)...)
	}
	conflicts, err := w.writeAll(ctx, todo, dls)
	if err != nil {
		keep()
		return err
	}
	for _, id := range conflicts {
		// Still not read by the hub: back off.
		w.conflicted(id, min(2*due[id], conflictRetryMax), now)
	}
	// Written, found in the system, merged or retired: no longer waiting.
	var done []string
	for id := range due {
		if _, ok := w.conflicts[id]; !ok {
			done = append(done, id)
		}
	}
	return w.logConflicts(ctx, nil, done)
}

// conflict is a golden customer whose write a destination refused as a
// conflict, waiting for its retry.
type conflict struct {
	next  time.Time
	delay time.Duration
}

const (
	conflictRetryFirst = 500 * time.Millisecond
	conflictRetryMax   = 30 * time.Second
)

// conflicted schedules the retry of golden's write delay after now.
func (w *Writer) conflicted(golden string, delay time.Duration, now time.Time) {
	if w.States == nil {
		return
	}
	if w.conflicts == nil {
		w.conflicts = map[string]*conflict{}
	}
	w.conflicts[golden] = &conflict{next: now.Add(delay), delay: delay}
}

// nextRetry is when the earliest conflict retry is due; ok is false when
// none waits.
func (w *Writer) nextRetry() (at time.Time, ok bool) {
	for _, c := range w.conflicts {
		if !ok || c.next.Before(at) {
			at, ok = c.next, true
		}
	}
	return at, ok
}

// plan turns one golden state into the target records to write.
func (w *Writer) plan(st pipeline.GoldenState, dls *[]*hub.DeadLetter) []pending {
	t := w.Target
	want, err := w.fields(st.ID, st.Customer, false)
	if err != nil {
		w.Metrics.Skipped.WithLabelValues(t.Name, SkipMapping).Inc()
		*dls = append(*dls, w.mappingDeadLetter(st.ID, err))
		return nil
	}
	owned := pick(want, t.Fields)
	if len(owned) == 0 {
		w.Metrics.Skipped.WithLabelValues(t.Name, SkipNoFields).Inc()
		return nil
	}
	hash := hashOf(owned)
	touch := pick(want, t.Touch)
	touchJSON := ""
	if len(touch) > 0 {
		b, _ := json.Marshal(touch)
		touchJSON = string(b)
	}
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
			w.Metrics.Skipped.WithLabelValues(t.Name, SkipNotInTarget).Inc()
			return nil
		}
		ids = []string{st.ID}
	}
	todo := make([]pending, 0, len(ids))
	for _, id := range ids {
		p := pending{golden: st.ID, hash: hash, touch: touchJSON, rec: sdk.Record{Entity: t.Entity, ID: id, Op: sdk.OpUpsert,
			Payload: payload(owned, touch), UpdatedAt: st.UpdatedAt}}
		if s, ok := own[id]; ok {
			p.seen = s.UpdatedAt
			if has, err := w.fields(st.ID, s.Customer, true); err == nil && hashOf(pick(has, t.Fields)) == hash {
				p.has = true
			}
		}
		todo = append(todo, p)
	}
	return todo
}

// writeAll writes todo and publishes the dead letters of the batch. It
// returns the golden ids a destination refused as conflicts.
func (w *Writer) writeAll(ctx context.Context, todo []pending, dls []*hub.DeadLetter) ([]string, error) {
	written, conflicts, err := w.write(ctx, todo, &dls)
	if err != nil {
		return nil, err
	}
	if err := w.publishDeadLetters(ctx, dls); err != nil {
		return nil, err
	}
	if w.OnBatch != nil && len(written) > 0 {
		w.OnBatch(written)
	}
	return conflicts, nil
}

func (w *Writer) write(ctx context.Context, todo []pending, dls *[]*hub.DeadLetter) (written []sdk.Record, conflicts []string, err error) {
	t := w.Target
	if len(todo) == 0 {
		return nil, nil, nil
	}
	ids := make([]string, 0, len(todo))
	for _, p := range todo {
		ids = append(ids, p.rec.ID)
	}
	hashes, touches, err := w.Ledger.Written(ctx, t.Name, ids)
	if err != nil {
		return nil, nil, err
	}
	record, recordTouch := map[string]string{}, map[string]string{}
	var recs []sdk.Record
	var sent []pending
	for _, p := range todo {
		switch {
		case hashes[p.rec.ID] == p.hash:
			w.Metrics.Skipped.WithLabelValues(t.Name, SkipUnchanged).Inc()
		case p.has:
			// The system holds these values already (it made the edit
			// itself): nothing to write, but remember them, so the next
			// state with the same values is recognised without a look.
			// The touch fields of crmhub's last write stay known.
			w.Metrics.Skipped.WithLabelValues(t.Name, SkipSystemHas).Inc()
			record[p.rec.ID] = p.hash
			if tj, ok := touches[p.rec.ID]; ok {
				recordTouch[p.rec.ID] = tj
			}
		default:
			r := p.rec
			r.Meta = writeMeta(p.seen, touches[p.rec.ID])
			recs = append(recs, r)
			sent = append(sent, p)
		}
	}
	if len(recs) > 0 {
		res, err := w.Destination.Write(ctx, recs)
		if err != nil {
			return nil, nil, fmt.Errorf("target %s: write: %w", t.Name, err)
		}
		if len(res) != len(recs) {
			return nil, nil, fmt.Errorf("target %s: destination returned %d results for %d records", t.Name, len(res), len(recs))
		}
		for i, r := range res {
			switch {
			case strings.HasPrefix(r.Error, sdk.ConflictPrefix):
				// Someone changed the record in the system after the hub
				// last read it: writing would overwrite an edit the hub
				// has not seen. Nothing is recorded; the caller retries
				// from the store's state once the edit has come in
				// through the source and survivorship ran.
				w.Metrics.Skipped.WithLabelValues(t.Name, SkipConflict).Inc()
				conflicts = append(conflicts, sent[i].golden)
				w.Logger.Info("write-back: target record changed in the system since the hub read it; not overwritten",
					"target", t.Name, "system", t.System, "golden_id", sent[i].golden, "seen", sent[i].seen)
			case r.Error != "":
				w.Metrics.Records.WithLabelValues(t.Name, "failed").Inc()
				d := w.deadLetter(sent[i].golden, recs[i].ID, "", r.Error, recs[i].Payload)
				*dls = append(*dls, d)
			default:
				w.Metrics.Records.WithLabelValues(t.Name, "written").Inc()
				record[recs[i].ID] = sent[i].hash
				if sent[i].touch != "" {
					recordTouch[recs[i].ID] = sent[i].touch
				}
				written = append(written, recs[i])
			}
		}
	}
	if err := w.Ledger.Record(ctx, t.Name, record, recordTouch); err != nil {
		return nil, nil, err
	}
	return written, conflicts, nil
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
		m, err := pipeline.DeadLetterMessage(w.Topics, d)
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

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
