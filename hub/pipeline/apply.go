package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
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
	BatchSize int
	BatchWait time.Duration
	Metrics   *Metrics
	Logger    *slog.Logger
	Now       func() time.Time
	// OnApplied, when set, is told about every batch the store committed
	// (the golden change stream and tests hook in here).
	OnApplied func(events []hub.Envelope, stats hub.ApplyStats)
}

// Run applies until ctx is done. Offsets are committed only after the store
// committed the batch, so a crash re-delivers at most what the store will
// recognise by event id and skip.
func (a *Apply) Run(ctx context.Context) error {
	if a.Now == nil {
		a.Now = time.Now
	}
	for {
		msgs, err := a.Consumer.Fetch(ctx, a.BatchSize, a.BatchWait)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.Logger.Warn("fetch failed, retrying", "err", err)
			if !sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		if err := a.applyBatch(ctx, msgs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := a.commit(ctx, msgs); err != nil {
			return err
		}
	}
}

func (a *Apply) commit(ctx context.Context, msgs []bus.Message) error {
	b := newBackoff(100*time.Millisecond, 5*time.Second)
	for {
		err := a.Consumer.Commit(ctx, msgs)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		a.Logger.Warn("offset commit failed, retrying", "err", err)
		if !sleep(ctx, b.next()) {
			return nil
		}
	}
}

func (a *Apply) applyBatch(ctx context.Context, msgs []bus.Message) error {
	events := make([]hub.Envelope, 0, len(msgs))
	var bad []*hub.DeadLetter
	for _, m := range msgs {
		var e hub.Envelope
		if err := json.Unmarshal(m.Value, &e); err != nil || e.EventID == "" {
			bad = append(bad, &hub.DeadLetter{ReasonClass: hub.ReasonApply, At: a.Now().UTC(), Raw: m.Value,
				Reason: fmt.Sprintf("topic %s partition %d offset %d: not a canonical envelope: %v", m.Topic, m.Partition, m.Offset, err)})
			continue
		}
		events = append(events, e)
	}
	if len(events) > 0 {
		refused, err := a.applyEvents(ctx, events)
		if err != nil {
			return err
		}
		bad = append(bad, refused...)
	}
	return a.deadLetter(ctx, bad)
}

// applyEvents applies the batch; if the store refuses it while reachable,
// the events are applied one by one so that one bad record goes to the
// dead-letter topic instead of blocking the partition forever.
func (a *Apply) applyEvents(ctx context.Context, events []hub.Envelope) ([]*hub.DeadLetter, error) {
	b := newBackoff(200*time.Millisecond, 10*time.Second)
	for {
		stats, err := a.Store.Apply(ctx, events)
		if err == nil {
			a.applied(events, stats)
			return nil, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if perr := a.Store.Ping(ctx); perr != nil {
			a.Metrics.ApplyError.WithLabelValues("store_unavailable").Inc()
			a.Logger.Warn("store unavailable, retrying", "err", perr)
			if !sleep(ctx, b.next()) {
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
			a.Metrics.ApplyError.WithLabelValues("refused").Inc()
			refused = append(refused, &hub.DeadLetter{Connector: e.Connector, System: e.System, SourceEntity: e.SourceEntity,
				SourceID: e.SourceID, Mapping: e.Mapping, MappingVersion: e.MappingVersion, ReasonClass: hub.ReasonApply,
				Reason:  fmt.Sprintf("%s/%s id %s: store refused the record: %v", e.System, e.SourceEntity, e.SourceID, err),
				Payload: e.Data, At: a.Now().UTC()})
		}
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
		b, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode dead letter: %w", err)
		}
		msgs = append(msgs, bus.Message{Topic: a.Topics.DeadLetter(), Key: d.Key(), Value: b,
			Headers: map[string]string{"reason_class": d.ReasonClass}})
		conn := d.Connector
		if conn == "" {
			conn = "unknown" // a message that was not an envelope names no connector
		}
		a.Metrics.DeadLetters.WithLabelValues(conn, d.ReasonClass).Inc()
	}
	b := newBackoff(100*time.Millisecond, 10*time.Second)
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
		if !sleep(ctx, b.next()) {
			return ctx.Err()
		}
	}
}
