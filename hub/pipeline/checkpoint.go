package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/crmhub/crmhub/internal/retry"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// MaxUnsaved bounds how many published batches of one source may wait for
// their position to be saved. Saving goes through the store's single
// writer, which may be busy applying a large transaction for a second; the
// runner reads, maps and publishes the next batches meanwhile instead of
// waiting, but no further than this, so a store that cannot save holds the
// source back and a restart re-reads (and the hub skips by event id) at
// most this many batches.
const MaxUnsaved = 64

// checkpointer saves a source's position and acks the source off the read
// loop. Only the newest published position is saved: Ack means "everything
// up to and including pos is durable", so one save and one ack cover every
// batch published since the last save.
type checkpointer struct {
	s *Source

	mu      sync.Mutex
	pos     sdk.Position // newest published position, not yet saved
	starts  []time.Time  // read times of the batches pos covers
	unsaved int          // published batches whose position is not saved yet
	// inflight counts batches read and not yet published (the pipeline
	// holds a few): they count against MaxUnsaved too, so that no more
	// than MaxUnsaved batches are ever published ahead of a save.
	inflight int
	wake     chan struct{} // cap 1: pos is set
	room     chan struct{} // cap 1: a save completed
}

func newCheckpointer(s *Source) *checkpointer {
	return &checkpointer{s: s, wake: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// wait blocks while MaxUnsaved batches wait for their position; it reports
// false when ctx ended first.
func (c *checkpointer) wait(ctx context.Context) bool {
	for {
		c.mu.Lock()
		full := c.unsaved+c.inflight >= MaxUnsaved
		c.mu.Unlock()
		if !full {
			return true
		}
		select {
		case <-c.room:
		case <-ctx.Done():
			return false
		}
	}
}

// reserve counts a batch read and on its way to Kafka.
func (c *checkpointer) reserve() {
	c.mu.Lock()
	c.inflight++
	c.mu.Unlock()
}

// release ends a reserved batch that has no position to save.
func (c *checkpointer) release() {
	c.mu.Lock()
	c.inflight--
	c.mu.Unlock()
	select {
	case c.room <- struct{}{}:
	default:
	}
}

// add hands over the position of a reserved batch Kafka acknowledged.
func (c *checkpointer) add(pos sdk.Position, start time.Time) {
	c.mu.Lock()
	c.pos = pos
	c.starts = append(c.starts, start)
	c.unsaved++
	c.inflight--
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) take() (sdk.Position, []time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pos, starts, n := c.pos, c.starts, c.unsaved
	c.pos, c.starts = nil, nil
	return pos, starts, n
}

// putBack returns a position whose save was interrupted, unless a newer one
// arrived meanwhile (which covers it).
func (c *checkpointer) putBack(pos sdk.Position, starts []time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pos == nil {
		c.pos = pos
	}
	c.starts = append(starts, c.starts...)
}

// run saves positions until ctx ends. A failed save is retried with
// backoff: the records are durable on Kafka, only the resume point waits.
func (c *checkpointer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		pos, starts, n := c.take()
		if pos == nil {
			continue
		}
		b := retry.NewBackoff(100*time.Millisecond, 10*time.Second)
		for {
			err := c.save(ctx, pos, starts, n)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				c.putBack(pos, starts)
				return
			}
			c.s.Logger.Warn("save position failed, retrying", "connector", c.s.Name, "err", err)
			if !retry.Sleep(ctx, b.Next()) {
				c.putBack(pos, starts)
				return
			}
		}
	}
}

// flush saves what run left unsaved when it stopped, so that a restart
// resumes after every batch Kafka acknowledged.
func (c *checkpointer) flush(ctx context.Context) error {
	pos, starts, n := c.take()
	if pos == nil {
		return nil
	}
	return c.save(ctx, pos, starts, n)
}

// save writes pos, then acks the source, and frees room for n batches.
func (c *checkpointer) save(ctx context.Context, pos sdk.Position, starts []time.Time, n int) error {
	s := c.s
	if err := s.Positions.SavePosition(ctx, s.Name, pos); err != nil {
		return err
	}
	c.mu.Lock()
	c.unsaved -= n
	c.mu.Unlock()
	select {
	case c.room <- struct{}{}:
	default:
	}
	if err := s.Source.Ack(ctx, pos); err != nil {
		// The position is durable in the hub; a failed ack only delays the
		// source's own clean-up (archiving a file), so go on.
		s.Logger.Warn("ack failed", "connector", s.Name, "err", err)
	}
	now := s.Now()
	for _, t := range starts {
		s.Metrics.BatchTime.WithLabelValues(s.Name).Observe(now.Sub(t).Seconds())
	}
	return nil
}
