package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay is the wait before retry number attempt (0 for the first retry):
// drawn uniformly from [0, min(limit, base·2^attempt)], "full jitter", so
// many clients retrying after the same outage spread out instead of
// hammering a recovering broker, store or API in step. base ≤ 0 waits
// nothing; limit < base is taken as base.
func Delay(base, limit time.Duration, attempt int) time.Duration {
	if base <= 0 {
		return 0
	}
	limit = max(limit, base)
	c := base
	for i := 0; i < attempt && c < limit; i++ {
		c *= 2
	}
	return rand.N(min(c, limit) + 1)
}

// Backoff counts the attempts of one retry loop; Reset after a success.
// It is not safe for concurrent use: each loop has its own.
type Backoff struct {
	base, limit time.Duration
	attempt     int
}

// NewBackoff starts a loop whose waits grow from base up to limit.
func NewBackoff(base, limit time.Duration) *Backoff { return &Backoff{base: base, limit: limit} }

// Next is the wait before the next attempt (see Delay).
func (b *Backoff) Next() time.Duration {
	d := Delay(b.base, b.limit, b.attempt)
	b.attempt++
	return d
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Sleep waits d or until ctx is done; it reports whether to go on.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
