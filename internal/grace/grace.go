package grace

import (
	"context"
	"sync"
	"time"
)

// Period is how long the bookkeeping of work already done (dead letters,
// ledger entries, offsets) may outlive a cancelled context.
const Period = 5 * time.Second

// Outlive returns a context that ends d after ctx ends (or when the
// returned cancel is called): for recording what was already done to a
// store or a system when the caller is being stopped.
func Outlive(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	octx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var timer *time.Timer
	var mu sync.Mutex
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		timer = time.AfterFunc(d, cancel)
		mu.Unlock()
	})
	return octx, func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}
