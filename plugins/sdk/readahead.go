package sdk

import (
	"context"
	"sync"
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
	// limit is what the reader asks for: a batch shorter than this one
	// is its last, whatever the caller asks for now (a caller may vary
	// its limit, and a batch full for the reader is no sign of the end).
	limit int
}

type readResult struct {
	recs []Record
	err  error
}

// readFunc reads one batch of at most limit records.
type readFunc func(ctx context.Context, limit int) ([]Record, error)

// start reads ahead in the background, unless a reader runs already or
// records are left over.
func (a *readAhead) start(read readFunc, limit int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending != nil || len(a.left) > 0 {
		return
	}
	depth := max(a.depth, 1)
	ctx, cancel := context.WithCancel(context.Background())
	// The channel holds depth-1 batches and the reader blocks with one
	// more: depth batches read ahead at most.
	p := &producer{cancel: cancel, batches: make(chan readResult, depth-1), limit: limit}
	a.pending = p
	go func() {
		defer close(p.batches)
		for {
			recs, err := read(ctx, limit)
			select {
			case p.batches <- readResult{recs, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(recs) < limit {
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
	a.mu.Unlock()
	if len(left) == 0 && p != nil {
		select {
		case r, ok := <-p.batches:
			if !ok || r.err != nil || len(r.recs) < p.limit {
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
