package main

import (
	"context"
	"testing"
	"time"
)

// The latency bench sees every change it sends, once, in the change feed,
// and confirms the sampled ones in the API; a customer gets its next change
// only after the last one was seen.
func TestLatencyBenchSeesEveryChange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := runLatencyBench(ctx, latencyOpts{rate: 200, duration: time.Second, customers: 20, confirmEvery: 3,
		inProcess: true, timeout: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 200 || r.Seen != r.Sent || r.Confirmed != 67 {
		t.Errorf("sent %d, seen %d, confirmed %d; want 200 sent, every one seen, every third (67) confirmed by GET", r.Sent, r.Seen, r.Confirmed)
	}
	if !(r.P50ms <= r.P95ms && r.P95ms <= r.P99ms && r.P99ms <= r.MaxMs) || r.P50ms < 0 {
		t.Errorf("percentiles out of order: %+v", r)
	}
	// A change shows in the feed before the GET that confirms it returns,
	// change by change (the percentiles of the confirmed third and of all
	// changes are of different populations: they may come in any order).
	if r.ConfirmedEarly != 0 {
		t.Errorf("%d changes confirmed before visible: %+v", r.ConfirmedEarly, r)
	}
}
