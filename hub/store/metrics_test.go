package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

// The size gauges scan whole tables; a refresh is not started again
// before countsCost times its own duration has passed, however often
// Prometheus scrapes and however busy the writer is.
func TestCountsRefreshBackOffByItsCost(t *testing.T) {
	var (
		mu    sync.Mutex
		now   = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
		loads int
		took  time.Duration
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := &countsCache{now: clock, load: func(context.Context) (countsSnapshot, error) {
		mu.Lock()
		loads++
		n := loads
		now = now.Add(took) // the refresh takes this long
		mu.Unlock()
		var s countsSnapshot
		s.counts.GoldenCustomers = int64(n)
		return s, nil
	}}
	get := func() int64 {
		t.Helper()
		s, err := c.get()
		if err != nil {
			t.Fatal(err)
		}
		return s.counts.GoldenCustomers
	}
	for _, step := range []struct {
		name    string
		took    time.Duration // the next refresh's duration
		advance time.Duration
		write   bool
		want    int64 // which load's snapshot the scrape sees
	}{
		{"first scrape loads", 100 * time.Millisecond, 0, false, 1},
		{"a cheap store: written, 3 s later, refreshed", 100 * time.Millisecond, 3 * time.Second, true, 2},
		{"quiet, 3 s later: served as is", 0, 3 * time.Second, false, 2},
		{"quiet, 6 s later: refreshed (countsMaxAge)", 4 * time.Second, 3 * time.Second, false, 3},
		// The last refresh took 4 s: neither a write nor countsMaxAge
		// starts another before 40 s.
		{"written, 5 s later: served as is", 0, 5 * time.Second, true, 3},
		{"written, 30 s later: still served as is", 0, 25 * time.Second, true, 3},
		{"written, 41 s later: refreshed", 100 * time.Millisecond, 11 * time.Second, true, 4},
		{"cheap again: written, 3 s later, refreshed", 0, 3 * time.Second, true, 5},
	} {
		if step.write {
			c.wrote()
		}
		advance(step.advance)
		mu.Lock()
		took = step.took
		mu.Unlock()
		if got := get(); got != step.want {
			t.Fatalf("%s: the scrape saw load %d, want %d", step.name, got, step.want)
		}
	}
}
