package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/internal/retry"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// DefaultMaxBatchBytes bounds a batch's source payloads when
// Source.MaxBatchBytes is 0. With the batches a pipeline holds at once
// (pipelineDepth), the runner keeps a few tens of MB of records at most,
// whatever the records' size.
const DefaultMaxBatchBytes = 4 << 20

// pipelineDepth is how many batches wait between two stages: one read
// ahead of the mapper and one mapped ahead of the publisher is all the
// overlap needs; more only holds memory.
const pipelineDepth = 1

// firstBatchSize is the most records the first read asks for. The first
// record reaches the topic only once its whole batch is read, mapped and
// published; a small first batch makes that wait short, and the batches
// after it are full (a plugin's read-ahead takes up the larger limit at
// once, see plugins/sdk/readahead.go).
const firstBatchSize = 100

// minMapChunk is the fewest records a mapping goroutine is given: below
// it, starting the goroutine costs more than it saves.
const minMapChunk = 64

// flight is one batch on its way through the stages.
type flight struct {
	recs  []sdk.Record
	start time.Time // when its read began (BatchTime)

	// Set by mapBatch.
	msgs      []bus.Message
	last      sdk.Position
	published map[string]int
	dead      map[string]int
	newest    map[string]time.Time
	now       time.Time
}

// pipeline is Run's loop: this goroutine reads, one goroutine maps (the
// records of a batch on every core), one publishes and hands positions to
// cp. A batch's position reaches cp only after Kafka acknowledged it and
// every batch before it, as in the serial loop: publishing is one batch at
// a time, in read order. A failing stage stops the others; a batch read
// but not yet published is dropped and read again after a restart.
func (s *Source) pipeline(ctx context.Context, cp *checkpointer, log *slog.Logger) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		errMu    sync.Mutex
		stageErr error
	)
	fail := func(err error) {
		errMu.Lock()
		if stageErr == nil {
			stageErr = err
		}
		errMu.Unlock()
		stop()
	}
	mapq := make(chan *flight, pipelineDepth)
	pubq := make(chan *flight, pipelineDepth)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(pubq)
		for f := range mapq {
			if runCtx.Err() != nil {
				continue // drain: the reader closes mapq on its way out
			}
			if err := s.mapBatch(f); err != nil {
				fail(err)
				continue
			}
			select {
			case pubq <- f:
			case <-runCtx.Done():
			}
		}
	}()
	go func() {
		defer wg.Done()
		for f := range pubq {
			if runCtx.Err() != nil {
				continue
			}
			if err := s.publishBatch(runCtx, cp, f); err != nil {
				fail(err)
			}
		}
	}()
	err := s.readLoop(runCtx, cp, mapq, log)
	close(mapq)
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return err
	}
	errMu.Lock()
	defer errMu.Unlock()
	return stageErr
}

// readLoop reads batches and queues them for mapping until ctx ends or the
// connector fails permanently.
func (s *Source) readLoop(ctx context.Context, cp *checkpointer, mapq chan<- *flight, log *slog.Logger) error {
	backoff := retry.NewBackoff(200*time.Millisecond, 30*time.Second)
	limit := s.BatchSize
	if limit > firstBatchSize {
		limit = firstBatchSize
	}
	for {
		if ctx.Err() != nil || !cp.wait(ctx) {
			return nil
		}
		start := s.Now()
		recs, err := s.Source.Read(ctx, limit)
		s.track(ctx, recs, err) // progress lines, caught up, status (progress.go)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if s.IsPermanent != nil && s.IsPermanent(err) {
				return fmt.Errorf("connector %s: %w: %w", s.Name, ErrPermanent, err)
			}
			log.Warn("read failed, retrying", "err", err)
			if !retry.Sleep(ctx, backoff.Next()) {
				return nil
			}
			continue
		}
		backoff.Reset()
		if len(recs) == 0 {
			if !retry.Sleep(ctx, s.PollInterval) {
				return nil
			}
			continue
		}
		// A plugin's read-ahead takes up a larger limit at once and a
		// smaller one when it has caught up (what it read is split
		// meanwhile), so batches shrink for large records at once but do
		// not grow back until then.
		limit = s.nextLimit(recs)
		cp.reserve()
		select {
		case mapq <- &flight{recs: recs, start: start}:
		case <-ctx.Done():
			return nil
		}
	}
}

// nextLimit is how many records to ask for next: BatchSize, fewer when
// records of the size just read would exceed MaxBatchBytes.
func (s *Source) nextLimit(recs []sdk.Record) int {
	if s.BatchSize <= 0 {
		return s.BatchSize // the connector's own default
	}
	maxBytes := s.MaxBatchBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBatchBytes
	}
	size := 0
	for i := range recs {
		size += len(recs[i].Payload) + len(recs[i].Position) + len(recs[i].ID)
	}
	avg := max(size/len(recs), 1)
	return max(1, min(s.BatchSize, maxBytes/avg))
}

// mapped is one record's result.
type mapped struct {
	msg  bus.Message
	kind int8 // mappedNone, mappedCanonical, mappedDead
	// entity counts a canonical message, class a dead letter.
	entity, class string
	err           error
}

const (
	mappedNone int8 = iota // dropped on purpose by the mapping
	mappedCanonical
	mappedDead
)

// mapBatch maps f's records into messages, in record order, spreading the
// records over MapWorkers goroutines.
func (s *Source) mapBatch(f *flight) error {
	f.now = s.Now().UTC()
	out := make([]mapped, len(f.recs))
	workers := s.MapWorkers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(f.recs)/minMapChunk))
	if workers == 1 {
		s.mapRange(f, out, 0, len(f.recs))
	} else {
		// The goroutines take chunks of minMapChunk records as they go
		// rather than a share each: the plugin, the publisher and the
		// broker run on the same cores, and a goroutine that lost its core
		// for a while left the batch waiting for its share while the
		// others idled.
		var wg sync.WaitGroup
		var next atomic.Int64
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					hi := int(next.Add(minMapChunk))
					lo := hi - minMapChunk
					if lo >= len(f.recs) {
						return
					}
					s.mapRange(f, out, lo, min(hi, len(f.recs)))
				}
			}()
		}
		wg.Wait()
	}
	f.msgs = make([]bus.Message, 0, len(out))
	f.published, f.dead, f.newest = map[string]int{}, map[string]int{}, map[string]time.Time{}
	// Counted once per entity and batch: a counter looked up by its
	// labels for every record was 1.6% of a connector's CPU.
	reads := map[string]int{}
	defer func() {
		for e, n := range reads {
			s.Metrics.Read.WithLabelValues(s.Name, e).Add(float64(n))
		}
	}()
	for i := range f.recs {
		r := &f.recs[i]
		reads[r.Entity]++
		if r.Position != nil {
			f.last = r.Position
		}
		if r.UpdatedAt.After(f.newest[r.Entity]) {
			f.newest[r.Entity] = r.UpdatedAt
		}
		m := &out[i]
		if m.err != nil {
			return m.err
		}
		switch m.kind {
		case mappedCanonical:
			f.msgs = append(f.msgs, m.msg)
			f.published[m.entity]++
		case mappedDead:
			f.msgs = append(f.msgs, m.msg)
			f.dead[m.class]++
		}
	}
	f.recs = nil // the payloads are in the messages now; let them go
	return nil
}

// mapRange maps f.recs[lo:hi] into out[lo:hi].
func (s *Source) mapRange(f *flight, out []mapped, lo, hi int) {
	for i := lo; i < hi; i++ {
		out[i] = s.mapOne(&f.recs[i], f.now)
	}
}

// mapOne turns a record into its canonical message or its dead letter.
func (s *Source) mapOne(r *sdk.Record, now time.Time) mapped {
	dead := func(dl *hub.DeadLetter) mapped {
		m, err := bus.DeadLetterMessage(s.Topics, dl)
		if err != nil {
			return mapped{err: err}
		}
		return mapped{msg: m, kind: mappedDead, class: dl.ReasonClass}
	}
	env, dl := s.mapRecord(r, now)
	if dl != nil {
		return dead(dl)
	}
	if env == nil {
		return mapped{}
	}
	b, err := env.AppendJSONEncoded(nil) // Data is the mapping engine's encoding
	if err != nil {
		return mapped{err: fmt.Errorf("encode envelope: %w", err)}
	}
	m := bus.Message{Topic: s.Topics.Canonical(env.Entity), Key: env.Key(), Value: b,
		Headers: map[string]string{"event_id": env.EventID, "mapping": env.Mapping}}
	if dl := s.tooLarge(r, env, m, now); dl != nil {
		return dead(dl)
	}
	return mapped{msg: m, kind: mappedCanonical, entity: env.Entity}
}

// publishBatch publishes a mapped batch (retrying until Kafka takes it or
// ctx ends), then hands its position to cp.
func (s *Source) publishBatch(ctx context.Context, cp *checkpointer, f *flight) error {
	if err := s.publish(ctx, f.msgs); err != nil {
		return err
	}
	for e, n := range f.published {
		s.Metrics.Published.WithLabelValues(s.Name, e).Add(float64(n))
	}
	for c, n := range f.dead {
		s.Metrics.DeadLetters.WithLabelValues(s.Name, c).Add(float64(n))
	}
	for e, t := range f.newest {
		if !t.IsZero() {
			s.Metrics.SourceLag.WithLabelValues(s.Name, e).Set(f.now.Sub(t).Seconds())
		}
	}
	if f.last != nil {
		cp.add(f.last, f.start)
		return nil
	}
	cp.release()
	s.Metrics.BatchTime.WithLabelValues(s.Name).Observe(s.Now().Sub(f.start).Seconds())
	return nil
}
