package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/internal/retry"
	"github.com/crmhub/crmhub/mapping"
)

// ReasonUnreadable is the reason class the indexer gives a message of the
// dead-letter topic that is not a dead letter (written by another tool):
// it is kept, raw, rather than dropped.
const ReasonUnreadable = "unreadable"

// ErrNotReplayable marks dead letters that re-mapping cannot fix: source
// errors (a bad CSV line: the payload is not a record) and apply errors
// (the payload is already canonical). A steward resolves them instead.
// It is returned together with hub.ErrConflict.
var ErrNotReplayable = errors.New("dead letter cannot be replayed")

// DeadLetterStore is where dead letters are kept. Implementations:
// hub/store/deadletters.
type DeadLetterStore interface {
	IndexDeadLetters(ctx context.Context, entries []hub.DeadLetterEntry) (int, error)
	ListDeadLetters(ctx context.Context, f hub.DeadLetterFilter) ([]hub.DeadLetterEntry, error)
	FindDeadLetter(ctx context.Context, id string) (*hub.DeadLetterEntry, error)
	// UpdateDeadLetter changes an open entry; hub.ErrConflict if it is no
	// longer open.
	UpdateDeadLetter(ctx context.Context, e *hub.DeadLetterEntry) error
	OpenDeadLetters(ctx context.Context) (map[string]int64, error)
}

// DeadLetterID is the id of the dead letter at a topic position. Kafka
// topic names hold no ":", so the id is unambiguous and fits a URL path.
func DeadLetterID(topic string, partition int, offset int64) string {
	return topic + ":" + strconv.Itoa(partition) + ":" + strconv.FormatInt(offset, 10)
}

// DeadLetterMetrics are the dead-letter operations metrics. The open gauge
// is read from the store at scrape time, so it is right whichever hub
// replayed or resolved an entry.
type DeadLetterMetrics struct {
	Replayed *prometheus.CounterVec
}

// openCollector reports crmhub_deadletters_open per reason class. Every
// known class is always reported (0 when none is open), so alerts see a
// series going to zero rather than disappearing.
type openCollector struct {
	store DeadLetterStore
	desc  *prometheus.Desc
}

// knownClasses bounds the reason_class label; "writeback_error" is
// hub/writeback's class (written to the same topic, resolved, not replayed).
var knownClasses = []string{hub.ReasonSource, hub.ReasonNoMapping, hub.ReasonMapping, hub.ReasonValidation, hub.ReasonApply,
	hub.ReasonTooLarge, "writeback_error", ReasonUnreadable}

func (c *openCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *openCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.store.OpenDeadLetters(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	out := map[string]int64{}
	for _, k := range knownClasses {
		out[k] = 0
	}
	for k, v := range n {
		if _, ok := out[k]; !ok {
			k = "other" // keeps the label bounded whatever was written to the topic
		}
		out[k] += v
	}
	for k, v := range out {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v), k)
	}
}

// NewDeadLetterMetrics registers the dead-letter metrics on reg; the open
// gauge reads store at scrape time.
func NewDeadLetterMetrics(reg prometheus.Registerer, store DeadLetterStore) (*DeadLetterMetrics, error) {
	m := &DeadLetterMetrics{
		Replayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_deadletters_replayed_total",
			Help: "Dead letters replayed through the current mappings, by reason class and outcome (published, dropped, failed).",
		}, []string{"reason_class", "outcome"}),
	}
	open := &openCollector{store: store, desc: prometheus.NewDesc("crmhub_deadletters_open",
		"Dead letters waiting for a fix (neither replayed nor resolved), by reason class.", []string{"reason_class"}, nil)}
	for _, c := range []prometheus.Collector{m.Replayed, open} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register dead-letter metrics: %w", err)
		}
	}
	return m, nil
}

// DeadLetterIndexer consumes the dead-letter topic in its own consumer
// group and stores every message, so operations can list, replay and
// resolve them. Offsets are committed only after the store committed, and
// the store ignores an id it has, so a crash re-delivers and loses nothing.
type DeadLetterIndexer struct {
	Consumer  Consumer // a group on hub.Topics.DeadLetter()
	Store     DeadLetterStore
	BatchSize int
	BatchWait time.Duration
	Logger    *slog.Logger
	// OnIndexed, when set, is told how many new entries each batch stored.
	OnIndexed func(n int)
}

// Run indexes until ctx is done. A store that refuses a batch is retried
// with backoff: skipping would lose dead letters.
func (x *DeadLetterIndexer) Run(ctx context.Context) error {
	if x.Logger == nil {
		x.Logger = slog.New(slog.DiscardHandler)
	}
	if x.BatchSize <= 0 {
		x.BatchSize = 500
	}
	if x.BatchWait <= 0 {
		x.BatchWait = 100 * time.Millisecond
	}
	for {
		msgs, err := x.Consumer.Fetch(ctx, x.BatchSize, x.BatchWait)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, bus.ErrClosed) {
				return nil
			}
			x.Logger.Warn("dead-letter indexer: fetch failed, retrying", "err", err)
			if !retry.Sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		entries := make([]hub.DeadLetterEntry, len(msgs))
		for i, m := range msgs {
			entries[i] = entryOf(m)
		}
		b := retry.NewBackoff(200*time.Millisecond, 10*time.Second)
		for {
			n, err := x.Store.IndexDeadLetters(ctx, entries)
			if err == nil {
				if x.OnIndexed != nil {
					x.OnIndexed(n)
				}
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			x.Logger.Warn("dead-letter indexer: store failed, retrying", "messages", len(entries), "err", err)
			if !retry.Sleep(ctx, b.Next()) {
				return nil
			}
		}
		b.Reset()
		for {
			err := x.Consumer.Commit(ctx, msgs)
			if err == nil || ctx.Err() != nil {
				break
			}
			if errors.Is(err, bus.ErrClosed) {
				return nil
			}
			x.Logger.Warn("dead-letter indexer: offset commit failed, retrying", "err", err)
			if !retry.Sleep(ctx, b.Next()) {
				return nil
			}
		}
	}
}

// entryOf reads one message of the dead-letter topic. A message that is not
// a dead letter is kept whole, with why.
func entryOf(m bus.Message) hub.DeadLetterEntry {
	id := DeadLetterID(m.Topic, m.Partition, m.Offset)
	e := hub.DeadLetterEntry{ID: id, Status: hub.DeadLetterOpen}
	if err := json.Unmarshal(m.Value, &e.DeadLetter); err != nil || e.ReasonClass == "" {
		why := "no reason_class"
		if err != nil {
			why = err.Error()
		}
		e.DeadLetter = hub.DeadLetter{ReasonClass: ReasonUnreadable, Raw: m.Value, At: m.Time.UTC(),
			Connector: m.Headers["connector"], Reason: fmt.Sprintf("dead letter %s is not a crmhub dead letter: %s", id, why)}
	}
	if e.At.IsZero() {
		e.At = m.Time.UTC()
	}
	return e
}

// DeadLetterService replays and resolves dead letters. Replay re-runs the
// current mapping (Mappings follows reloads) on the stored source payload,
// publishes the canonical record, and only then marks the entry replayed;
// a crash in between leaves it open, and the next replay publishes the
// same event id again, which the store recognises. It implements
// hub.DeadLetters.
type DeadLetterService struct {
	Store     DeadLetterStore
	Mappings  Mappings
	Publisher Publisher
	Topics    hub.Topics
	Metrics   *DeadLetterMetrics // nil counts nothing
	Logger    *slog.Logger
	Now       func() time.Time
}

var _ hub.DeadLetters = (*DeadLetterService)(nil)

// maxFailures caps the failures a ReplayMatching summary lists.
const maxFailures = 20

// ListDeadLetters lists entries.
func (d *DeadLetterService) ListDeadLetters(ctx context.Context, f hub.DeadLetterFilter) ([]hub.DeadLetterEntry, error) {
	return d.Store.ListDeadLetters(ctx, f)
}

// FindDeadLetter returns one entry.
func (d *DeadLetterService) FindDeadLetter(ctx context.Context, id string) (*hub.DeadLetterEntry, error) {
	return d.Store.FindDeadLetter(ctx, id)
}

// Replay re-maps one open entry.
func (d *DeadLetterService) Replay(ctx context.Context, id, actor string) (hub.ReplayResult, error) {
	if actor == "" {
		return hub.ReplayResult{}, fmt.Errorf("replay dead letter %s: actor is required: %w", id, hub.ErrInvalid)
	}
	e, err := d.Store.FindDeadLetter(ctx, id)
	if err != nil {
		return hub.ReplayResult{}, err
	}
	if e.Status != hub.DeadLetterOpen {
		return hub.ReplayResult{}, fmt.Errorf("replay dead letter %s: it is %s, not open: %w", id, e.Status, hub.ErrConflict)
	}
	if !replayable(e) {
		return hub.ReplayResult{}, fmt.Errorf("replay dead letter %s (%s): %w: %w: a %s has no source record to map; resolve it once the source is fixed",
			id, e.ReasonClass, ErrNotReplayable, hub.ErrConflict, e.ReasonClass)
	}
	res, err := d.replay(ctx, []*hub.DeadLetterEntry{e}, actor)
	if err != nil {
		return hub.ReplayResult{}, err
	}
	return res[0], nil
}

// ReplayMatching replays every open, replayable entry the filter selects,
// in pages; entries that cannot be re-mapped are counted, not touched.
func (d *DeadLetterService) ReplayMatching(ctx context.Context, f hub.DeadLetterFilter, actor string) (hub.ReplaySummary, error) {
	var sum hub.ReplaySummary
	if actor == "" {
		return sum, fmt.Errorf("replay dead letters: actor is required: %w", hub.ErrInvalid)
	}
	f.Status, f.After = hub.DeadLetterOpen, 0
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 500
	}
	for {
		page, err := d.Store.ListDeadLetters(ctx, f)
		if err != nil {
			return sum, fmt.Errorf("replay dead letters: %w", err)
		}
		if len(page) == 0 {
			return sum, nil
		}
		f.After = page[len(page)-1].Seq
		sum.Matched += len(page)
		batch := make([]*hub.DeadLetterEntry, 0, len(page))
		for i := range page {
			if replayable(&page[i]) {
				batch = append(batch, &page[i])
			} else {
				sum.NotReplayable++
			}
		}
		if len(batch) == 0 {
			continue
		}
		res, err := d.replay(ctx, batch, actor)
		if err != nil {
			return sum, err
		}
		for _, r := range res {
			switch r.Outcome {
			case hub.ReplayPublished:
				sum.Published++
			case hub.ReplayDropped:
				sum.Dropped++
			default:
				sum.Failed++
				if len(sum.Failures) < maxFailures {
					sum.Failures = append(sum.Failures, r)
				}
			}
		}
	}
}

// Resolve closes an open entry without replay.
func (d *DeadLetterService) Resolve(ctx context.Context, id, actor, note string) (*hub.DeadLetterEntry, error) {
	if actor == "" || note == "" {
		return nil, fmt.Errorf("resolve dead letter %s: actor and note are required: %w", id, hub.ErrInvalid)
	}
	e, err := d.Store.FindDeadLetter(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.Status != hub.DeadLetterOpen {
		return nil, fmt.Errorf("resolve dead letter %s: it is %s, not open: %w", id, e.Status, hub.ErrConflict)
	}
	e.Status, e.ClosedAt, e.Actor, e.Note = hub.DeadLetterResolved, d.now(), actor, note
	if err := d.Store.UpdateDeadLetter(ctx, e); err != nil {
		return nil, err
	}
	d.log().Info("dead letter resolved", "id", id, "reason_class", e.ReasonClass, "connector", e.Connector)
	return e, nil
}

func replayable(e *hub.DeadLetterEntry) bool {
	switch e.ReasonClass {
	case hub.ReasonNoMapping, hub.ReasonMapping, hub.ReasonValidation:
		return len(e.Payload) > 0 && e.SourceID != ""
	}
	return false
}

func (d *DeadLetterService) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *DeadLetterService) log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// replay maps the entries, publishes the canonical records in one call
// (acknowledged by Kafka) and then records each outcome.
func (d *DeadLetterService) replay(ctx context.Context, entries []*hub.DeadLetterEntry, actor string) ([]hub.ReplayResult, error) {
	now := d.now()
	results := make([]hub.ReplayResult, len(entries))
	var msgs []bus.Message
	for i, e := range entries {
		results[i] = d.remap(e, now, &msgs)
	}
	if len(msgs) > 0 {
		if err := d.Publisher.Publish(ctx, msgs...); err != nil {
			// Nothing was marked: every entry stays open, to be replayed again.
			return nil, fmt.Errorf("replay %d dead letters: publish: %w", len(msgs), err)
		}
	}
	for i, e := range entries {
		r := &results[i]
		e.Attempts++
		e.ReplayedAt, e.Actor = now, actor
		if r.Outcome == hub.ReplayFailed {
			e.ReasonClass, e.Reason, e.Field = r.ReasonClass, r.Reason, r.Field
		} else {
			e.Status, e.ClosedAt = hub.DeadLetterReplayed, now
		}
		if err := d.Store.UpdateDeadLetter(ctx, e); err != nil {
			if errors.Is(err, hub.ErrConflict) {
				// Closed meanwhile by someone else: what we published is
				// the same event id a replay would publish, so no harm.
				cur, ferr := d.Store.FindDeadLetter(ctx, e.ID)
				if ferr == nil {
					r.Status = cur.Status
				}
				continue
			}
			return nil, fmt.Errorf("replay dead letter %s: published, but recording it failed (it stays open; replaying it again is safe): %w", e.ID, err)
		}
		r.Status = e.Status
		if d.Metrics != nil {
			d.Metrics.Replayed.WithLabelValues(classLabel(e.ReasonClass), r.Outcome).Inc()
		}
	}
	d.log().Info("dead letters replayed", "count", len(entries), "published", len(msgs))
	return results, nil
}

func classLabel(c string) string {
	for _, k := range knownClasses {
		if k == c {
			return c
		}
	}
	return "other"
}

// remap runs the current mapping on an entry's payload, as the source
// runner does, appending the canonical record to msgs on success.
func (d *DeadLetterService) remap(e *hub.DeadLetterEntry, now time.Time, msgs *[]bus.Message) hub.ReplayResult {
	r := hub.ReplayResult{ID: e.ID, Outcome: hub.ReplayFailed, Status: hub.DeadLetterOpen, Field: e.Field}
	where := fmt.Sprintf("replay of %s: %s/%s id %s", e.ID, e.Connector, e.SourceEntity, e.SourceID)
	m, ok := d.Mappings.Lookup(e.System, e.SourceEntity)
	if !ok {
		r.ReasonClass, r.Field = hub.ReasonNoMapping, ""
		r.Reason = fmt.Sprintf("%s: no mapping for system %q entity %q", where, e.System, e.SourceEntity)
		return r
	}
	e.Mapping, e.MappingVersion = m.Name(), m.Version()
	out, err := m.Apply(mapping.Input{System: e.System, Entity: e.SourceEntity, SourceID: e.SourceID,
		UpdatedAt: e.SourceUpdatedAt, Op: hub.OpUpsert, Payload: e.Payload})
	if err != nil {
		r.ReasonClass, r.Field = hub.ReasonMapping, ""
		var re *mapping.RecordError
		if errors.As(err, &re) {
			r.ReasonClass, r.Field = re.ReasonClass, re.Field
		}
		r.Reason = fmt.Sprintf("%s: %s", where, err)
		return r
	}
	if out.Skip {
		r.Outcome = hub.ReplayDropped
		return r
	}
	entity, schemaVersion := m.Target()
	env := hub.Envelope{System: e.System, SourceEntity: e.SourceEntity, SourceID: e.SourceID,
		SourceUpdatedAt: e.SourceUpdatedAt.UTC(), Entity: entity, SchemaVersion: schemaVersion, Op: out.Op,
		Mapping: m.Name(), MappingVersion: m.Version(), Connector: e.Connector, ReadAt: now, Data: out.Data}
	if out.Entity != "" {
		env.Entity, env.SchemaVersion = out.Entity, out.SchemaVersion
	}
	if env.Op == "" {
		env.Op = hub.OpUpsert
	}
	if env.Op == hub.OpDelete {
		env.Data = nil
	}
	env.ComputeEventID()
	b, err := json.Marshal(&env)
	if err != nil {
		r.ReasonClass, r.Reason = hub.ReasonMapping, fmt.Sprintf("%s: encode envelope: %s", where, err)
		return r
	}
	topic := d.Topics.Canonical(env.Entity)
	*msgs = append(*msgs, bus.Message{Topic: topic, Key: env.Key(), Value: b,
		Headers: map[string]string{"event_id": env.EventID, "mapping": env.Mapping, "replay_of": e.ID}})
	r.Outcome, r.EventID, r.Topic, r.ReasonClass, r.Reason, r.Field = hub.ReplayPublished, env.EventID, topic, "", "", ""
	return r
}
