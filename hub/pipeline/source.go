package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/internal/retry"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// Publisher puts messages on Kafka and returns once the broker acknowledged
// all of them.
type Publisher interface {
	Publish(ctx context.Context, msgs ...bus.Message) error
}

// Positions is where connector positions are checkpointed.
type Positions interface {
	Position(ctx context.Context, connector string) ([]byte, error)
	SavePosition(ctx context.Context, connector string, pos []byte) error
}

// Mappings finds the mapping for a source system and entity. It is asked on
// every batch, so a reloaded mapping set takes effect without restarting
// connectors.
type Mappings interface {
	Lookup(system, entity string) (*mapping.Mapping, bool)
}

// ErrPermanent marks a source error the runner must not retry (the plugin
// host gave up on the connector). Sources signal it by wrapping an error for
// which IsPermanent reports true.
var ErrPermanent = errors.New("connector failed permanently")

// Source runs one connector instance: read, map, publish, checkpoint, ack.
type Source struct {
	Name      string // instance name
	System    string // system name put in envelopes
	Source    sdk.Source
	Config    sdk.Config // validated settings
	Mappings  Mappings
	Publisher Publisher
	Positions Positions
	Topics    hub.Topics
	BatchSize int
	// MaxBatchBytes bounds a batch by the size of its source payloads as
	// well (0: DefaultMaxBatchBytes): fewer than BatchSize records are
	// asked for once records are large, so memory stays bounded.
	MaxBatchBytes int
	// MapWorkers maps a batch's records on this many goroutines (0: one
	// per core, GOMAXPROCS).
	MapWorkers   int
	PollInterval time.Duration
	// IsPermanent reports whether a Read error means the connector is gone
	// for good (for example host.ErrFailed); nil means every error is retried.
	IsPermanent func(error) bool
	Metrics     *Metrics
	Logger      *slog.Logger
	Now         func() time.Time
}

// Run syncs until ctx is done or the connector fails permanently. Records
// are never lost: a batch's position is saved and acked only after Kafka
// acknowledged every canonical record and dead letter built from it; a
// Publish failure is retried with backoff, never skipped.
//
// Reading, mapping and publishing overlap (pipeline.go): the next batch is
// read while one is mapped, on every core, and another published; batches
// are published one after the other in the order read, so a key's records
// stay in order. Positions are saved and acked by a goroutine of their own
// (see MaxUnsaved), so reading the next batch does not wait for the store;
// on the way out the newest published position is saved before Run returns.
func (s *Source) Run(ctx context.Context) error {
	log := s.Logger.With("connector", s.Name)
	if s.Now == nil {
		s.Now = time.Now
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.Source.Teardown(tctx); err != nil {
			log.Warn("teardown", "err", err)
		}
	}()
	if err := s.Source.Configure(ctx, s.Config); err != nil {
		return fmt.Errorf("configure connector %s: %w", s.Name, err)
	}
	pos, err := s.Positions.Position(ctx, s.Name)
	if err != nil {
		return fmt.Errorf("load position of %s: %w", s.Name, err)
	}
	if err := s.Source.Open(ctx, pos); err != nil {
		return fmt.Errorf("open connector %s: %w", s.Name, err)
	}
	log.Info("source open", "resumed", pos != nil)
	cp := newCheckpointer(s)
	cpCtx, stopCP := context.WithCancel(ctx)
	cpDone := make(chan struct{})
	go func() {
		defer close(cpDone)
		cp.run(cpCtx)
	}()
	// Runs before Teardown (deferred earlier): the ack needs the source.
	defer func() {
		stopCP()
		<-cpDone
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := cp.flush(fctx); err != nil {
			log.Warn("save position on the way out failed; the last batches are read again after a restart", "err", err)
		}
	}()
	return s.pipeline(ctx, cp, log)
}

// SizeChecker says whether a message fits its topic (bus.Bus): a message
// over the limit is refused by the brokers on every retry.
type SizeChecker interface {
	CheckSize(m bus.Message) error
	MaxMessageBytes(topic string) int
}

// maxDeadLetterPayload is how much of a too-large record's payload its dead
// letter keeps: enough to find the record and see what made it large.
const maxDeadLetterPayload = 16 << 10

// tooLarge returns the dead letter of a canonical message its topic would
// refuse, nil when it fits (or the publisher cannot tell). The dead letter
// keeps the first maxDeadLetterPayload bytes of the source payload and the
// full sizes, so it fits the dead-letter topic itself.
func (s *Source) tooLarge(r *sdk.Record, env *hub.Envelope, m bus.Message, now time.Time) *hub.DeadLetter {
	sc, ok := s.Publisher.(SizeChecker)
	if !ok {
		return nil
	}
	err := sc.CheckSize(m)
	var tl *bus.TooLargeError
	if !errors.As(err, &tl) {
		return nil
	}
	d := &hub.DeadLetter{Connector: s.Name, System: s.System, SourceEntity: r.Entity, SourceID: r.ID,
		SourceUpdatedAt: r.UpdatedAt.UTC(), Mapping: env.Mapping, MappingVersion: env.MappingVersion, ReasonClass: hub.ReasonTooLarge,
		Reason: fmt.Sprintf("%s: canonical %s record of %d bytes exceeds the limit of %d bytes of topic %s (the brokers' max.message.bytes, or kafka.max_message_bytes)",
			s.where(r), env.Entity, tl.Size, tl.Max, tl.Topic),
		Field: largestField(env.Data), At: now}
	d.Meta = map[string]string{"size_bytes": strconv.Itoa(tl.Size), "limit_bytes": strconv.Itoa(tl.Max), "payload_bytes": strconv.Itoa(len(r.Payload))}
	for k, v := range r.Meta {
		d.Meta[k] = v
	}
	if len(r.Payload) <= maxDeadLetterPayload && json.Valid(r.Payload) {
		d.Payload = r.Payload
	} else {
		d.Raw = cutUTF8(r.Payload, maxDeadLetterPayload)
		d.Meta["payload_truncated"] = "true"
	}
	return d
}

// largestField names the canonical field with the longest JSON value: most
// often what made a record too large (a name pasted with a document).
func largestField(data []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return ""
	}
	best, n := "", 0
	for k, v := range m {
		if len(v) > n {
			best, n = k, len(v)
		}
	}
	return best
}

// cutUTF8 is at most n bytes of b, not ending inside a UTF-8 sequence.
func cutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[:n]
	for i := 0; i < 3 && len(b) > 0 && !utf8.Valid(b); i++ {
		b = b[:len(b)-1]
	}
	return b
}

// publish retries until Kafka takes the batch or ctx ends: dropping it
// would lose records, and moving on would checkpoint past them.
func (s *Source) publish(ctx context.Context, msgs []bus.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	b := retry.NewBackoff(100*time.Millisecond, 10*time.Second)
	blocked := false
	defer func() {
		if blocked {
			s.Metrics.PublishBlocked.WithLabelValues(s.Name).Set(0)
		}
	}()
	for {
		err := s.Publisher.Publish(ctx, msgs...)
		if err == nil {
			return nil
		}
		if !blocked {
			// The broker away or refusing: the connector waits, and that
			// shows (a record too large was dead-lettered before this).
			blocked = true
			s.Metrics.PublishBlocked.WithLabelValues(s.Name).Set(1)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.Logger.Warn("publish failed, retrying", "connector", s.Name, "records", len(msgs), "err", err)
		if !retry.Sleep(ctx, b.Next()) {
			return ctx.Err()
		}
	}
}

// mapRecord turns a source record into an envelope, or into a dead letter
// saying why it cannot go on. Both nil means the mapping dropped it.
func (s *Source) mapRecord(r *sdk.Record, now time.Time) (*hub.Envelope, *hub.DeadLetter) {
	dead := func(class, reason, field string, m *mapping.Mapping) *hub.DeadLetter {
		d := &hub.DeadLetter{Connector: s.Name, System: s.System, SourceEntity: r.Entity, SourceID: r.ID,
			SourceUpdatedAt: r.UpdatedAt.UTC(), Field: field, ReasonClass: class, Reason: reason, Meta: r.Meta, At: now}
		if m != nil {
			d.Mapping, d.MappingVersion = m.Name(), m.Version()
		}
		if json.Valid(r.Payload) {
			d.Payload = r.Payload
		} else {
			d.Raw = r.Payload
		}
		return d
	}
	if r.Error != "" {
		// A connector names the place itself too ("file x.csv line 2:
		// ..."); where() says it already.
		msg := r.Error
		if f, l := r.Meta["file"], r.Meta["line"]; f != "" && l != "" {
			msg = strings.TrimPrefix(msg, "file "+f+" line "+l+": ")
		}
		return nil, dead(hub.ReasonSource, fmt.Sprintf("%s: %s", s.where(r), msg), "", nil)
	}
	m, ok := s.Mappings.Lookup(s.System, r.Entity)
	if !ok {
		return nil, dead(hub.ReasonNoMapping, fmt.Sprintf("no mapping for system %q entity %q", s.System, r.Entity), "", nil)
	}
	if r.ID == "" {
		return nil, dead(hub.ReasonSource, fmt.Sprintf("%s: record has no source id", s.where(r)), "", m)
	}
	entity, schemaVersion := m.Target()
	env := &hub.Envelope{
		System: s.System, SourceEntity: r.Entity, SourceID: r.ID, SourceUpdatedAt: r.UpdatedAt.UTC(),
		Entity: entity, SchemaVersion: schemaVersion, Op: hub.OpDelete,
		Mapping: m.Name(), MappingVersion: m.Version(), Connector: s.Name, ReadAt: now,
	}
	if r.Op != sdk.OpDelete {
		out, err := m.Apply(mapping.Input{System: s.System, Entity: r.Entity, SourceID: r.ID,
			UpdatedAt: r.UpdatedAt, Op: string(r.Op), Payload: r.Payload})
		if err != nil {
			var re *mapping.RecordError
			if errors.As(err, &re) {
				return nil, dead(re.ReasonClass, fmt.Sprintf("%s: %s", s.where(r), err.Error()), re.Field, m)
			}
			return nil, dead(hub.ReasonMapping, fmt.Sprintf("%s: %s", s.where(r), err.Error()), "", m)
		}
		if out.Skip {
			s.Metrics.Dropped.WithLabelValues(s.Name, m.Name()).Inc()
			return nil, nil
		}
		for _, d := range out.Dropped {
			reason := d.Reason // the cleaner and why, from a fixed set
			if reason == "" {
				reason = d.Func
			}
			s.Metrics.ValuesDropped.WithLabelValues(m.Name(), d.Field, reason).Inc()
		}
		env.Op, env.Data = out.Op, out.Data
		if out.Entity != "" {
			env.Entity, env.SchemaVersion = out.Entity, out.SchemaVersion
		}
		if env.Op == "" {
			env.Op = hub.OpUpsert
		}
		if env.Op == hub.OpDelete {
			env.Data = nil
		}
	}
	env.ComputeEventID()
	if env.SourceUpdatedAt.IsZero() {
		// A source that cannot tell when a record changed (a webhook, a
		// REST API without a modified field): the version read later is
		// the newer one. The event id is taken before, from the content
		// alone, so re-reading an unchanged record is still recognised.
		env.SourceUpdatedAt = now
	}
	s.Metrics.Mapped.WithLabelValues(s.Name, m.Name()).Inc()
	return env, nil
}

// where names a record for error messages: connector, entity, id and the
// source location the connector reported (file and line), never values.
func (s *Source) where(r *sdk.Record) string {
	w := fmt.Sprintf("%s/%s", s.Name, r.Entity)
	if r.ID != "" {
		w += " id " + r.ID
	}
	if f, ok := r.Meta["file"]; ok {
		w += " file " + f
	}
	if l, ok := r.Meta["line"]; ok {
		w += " line " + l
	}
	return w
}
