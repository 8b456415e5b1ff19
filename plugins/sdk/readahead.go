package sdk

import (
	"context"
	"sync"
)

// readAhead lets the host ask the plugin for batch n+1 as soon as batch n
// has arrived, so the plugin reads and sends the next batch while the host
// works on this one, instead of the two processes taking turns. The plugin
// starts on batch n+1 only after batch n reached the host, so a plugin that
// crashes while reading ahead has delivered everything before: nothing
// changes for acks. The host acks only positions of records it received,
// and records read ahead but never delivered (the plugin crashed, the host
// stopped, Open moved the position) are read again from the last acked
// position, like any unacked record.
//
// It reads ahead only after a full batch: a short one says the source has
// caught up, and asking it again at once would only cost a query.
type readAhead struct {
	mu      sync.Mutex
	pending *pendingRead
	// left holds records read but not yet delivered, when the host asked
	// for fewer than were read ahead.
	left []Record
}

type pendingRead struct {
	cancel context.CancelFunc
	done   chan struct{}
	recs   []Record
	err    error
}

// readFunc reads one batch of at most limit records.
type readFunc func(ctx context.Context, limit int) ([]Record, error)

// start reads up to limit records in the background.
func (a *readAhead) start(read readFunc, limit int) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pendingRead{cancel: cancel, done: make(chan struct{})}
	a.mu.Lock()
	if a.pending != nil || len(a.left) > 0 {
		a.mu.Unlock()
		cancel()
		return
	}
	a.pending = p
	a.mu.Unlock()
	go func() {
		defer close(p.done)
		p.recs, p.err = read(ctx, limit)
	}()
}

// next returns the records read ahead, or reads now when there are none.
// An error of a read ahead is returned here, where the host would have met
// it anyway.
func (a *readAhead) next(ctx context.Context, read readFunc, limit int) ([]Record, error) {
	a.mu.Lock()
	p := a.pending
	a.pending = nil
	a.mu.Unlock()
	if p != nil {
		select {
		case <-p.done:
		case <-ctx.Done():
			// Keep the read for the next call: its records must not be
			// lost.
			a.mu.Lock()
			a.pending = p
			a.mu.Unlock()
			return nil, ctx.Err()
		}
		p.cancel()
		if p.err != nil {
			return nil, p.err
		}
		a.mu.Lock()
		a.left = append(a.left, p.recs...)
		a.mu.Unlock()
	}
	a.mu.Lock()
	left := a.left
	a.mu.Unlock()
	if len(left) == 0 {
		// Nothing read ahead, or an empty read ahead: that one may be
		// stale, so ask the source again.
		recs, err := read(ctx, limit)
		if err != nil {
			return nil, err
		}
		left = recs
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

// stop cancels a read ahead, waits for it and forgets what it read: the
// caller is about to reposition the source or tear it down, and the records
// were never delivered.
func (a *readAhead) stop() {
	a.mu.Lock()
	p := a.pending
	a.pending, a.left = nil, nil
	a.mu.Unlock()
	if p != nil {
		p.cancel()
		<-p.done
	}
}
