package sdk

import (
	"context"
	"sync"
	"sync/atomic"
)

// readAhead reads the next batches in the background while the caller works
// on this one, so that the two processes of a plugin hop work at the same
// time instead of taking turns. Both sides use it: the host asks the plugin
// for batch n+1 as soon as batch n has arrived (depth 1: one Read call in
// flight), and the plugin reads up to pluginReadAhead batches ahead of what
// the host has asked for, so that a slow hand-over between the processes
// (a busy machine schedules them late) does not leave the connector idle.
//
// Nothing changes for acks: the host acks only positions of records it
// received, and records read ahead but never delivered (the plugin crashed,
// the host stopped, Open moved the position) are read again from the last
// acked position, like any unacked record. The depth bounds what is read
// ahead: that is the backpressure.
//
// It reads ahead only after a full batch: a short one says the source has
// caught up, and asking it again at once would only cost a query.
//
// A running reader takes up a larger limit the caller asks for at once: the
// source runner starts with a small batch (so that the first record
// reaches the topic soon) and then asks for full ones, and a reader keeping
// its first limit would read small batches until the source caught up. A
// smaller limit (the runner bounds batches in bytes) is served by splitting
// what was read, and the reader takes it up when it starts again.
type readAhead struct {
	// depth is how many batches may be read ahead; 0 means 1.
	depth int

	mu      sync.Mutex
	pending *producer
	// left holds records read but not yet delivered, when the caller asked
	// for fewer than were read.
	left []Record
}

// pluginReadAhead is the plugin side's depth.
const pluginReadAhead = 3

// producer is one background reader: it reads batches in order until one
// is short or fails, keeping at most depth of them ready.
type producer struct {
	cancel  context.CancelFunc
	batches chan readResult
	// limit is what the reader asks for next: the largest the caller
	// asked for while it ran (see grow).
	limit atomic.Int64
}

// grow raises the limit of the reader's next reads to limit.
func (p *producer) grow(limit int) {
	for {
		cur := p.limit.Load()
		if int64(limit) <= cur || p.limit.CompareAndSwap(cur, int64(limit)) {
			return
		}
	}
}

type readResult struct {
	recs []Record
	err  error
	// limit is what this read asked for: a batch shorter than that is
	// the reader's last, whatever the caller asks for now (a batch full
	// for the caller's limit is no sign of the end, nor a short one for
	// it of the reader's).
	limit int
}

// readFunc reads one batch of at most limit records.
type readFunc func(ctx context.Context, limit int) ([]Record, error)

// start reads ahead in the background, unless a reader runs already or
// records are left over.
func (a *readAhead) start(read readFunc, limit int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending != nil {
		a.pending.grow(limit)
		return
	}
	if len(a.left) > 0 {
		return
	}
	depth := max(a.depth, 1)
	ctx, cancel := context.WithCancel(context.Background())
	// The channel holds depth-1 batches and the reader blocks with one
	// more: depth batches read ahead at most.
	p := &producer{cancel: cancel, batches: make(chan readResult, depth-1)}
	p.limit.Store(int64(limit))
	a.pending = p
	go func() {
		defer close(p.batches)
		for {
			n := int(p.limit.Load())
			recs, err := read(ctx, n)
			select {
			case p.batches <- readResult{recs, err, n}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(recs) < n {
				return
			}
		}
	}()
}

// next returns records read ahead, or reads now when there are none. An
// error of a read ahead is returned here, where the caller would have met
// it anyway.
func (a *readAhead) next(ctx context.Context, read readFunc, limit int) ([]Record, error) {
	a.mu.Lock()
	left, p := a.left, a.pending
	if p != nil {
		p.grow(limit)
	}
	a.mu.Unlock()
	if len(left) == 0 && p != nil {
		select {
		case r, ok := <-p.batches:
			if !ok || r.err != nil || len(r.recs) < r.limit {
				// The reader has stopped or is about to. Compared with the
				// caller's limit instead, a caller asking for more than the
				// reader reads would drop a running reader and the batches
				// it holds, and read on after them: records lost.
				a.mu.Lock()
				a.pending = nil
				a.mu.Unlock()
			}
			if ok && r.err != nil {
				return nil, r.err
			}
			left = r.recs
		case <-ctx.Done():
			// The reader keeps its batches for the next call: they must
			// not be lost.
			return nil, ctx.Err()
		}
	}
	if len(left) == 0 {
		// Nothing read ahead, or an empty read ahead: that one may be
		// stale, so ask the source again.
		a.mu.Lock()
		running := a.pending != nil
		a.mu.Unlock()
		if !running {
			recs, err := read(ctx, limit)
			if err != nil {
				return nil, err
			}
			left = recs
		}
	}
	n := min(max(limit, 0), len(left))
	out := left[:n:n]
	a.mu.Lock()
	if n == len(left) {
		a.left = nil
	} else {
		a.left = left[n:]
	}
	a.mu.Unlock()
	return out, nil
}

// stop cancels the reader, waits for it and forgets what it read: the
// caller is about to reposition the source or tear it down, and the records
// were never delivered.
func (a *readAhead) stop() {
	a.mu.Lock()
	p := a.pending
	a.pending, a.left = nil, nil
	a.mu.Unlock()
	if p != nil {
		p.cancel()
		for range p.batches {
		}
	}
}
