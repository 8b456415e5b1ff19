package server

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A yes from the store stands for pendingTrust; a no, or a failure, is
// asked again at the next call.
func TestPendingProbeTrustsOnlyAYes(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	type call struct {
		at      time.Duration // after t0
		store   bool          // what the store says if asked
		fail    bool
		want    bool
		wantAsk bool
	}
	tests := []struct {
		name  string
		calls []call
	}{
		{name: "a yes stands within the window", calls: []call{
			{at: 0, store: true, want: true, wantAsk: true},
			{at: 100 * time.Millisecond, store: false, want: true},
			{at: pendingTrust - time.Millisecond, store: false, want: true},
			{at: pendingTrust, store: false, want: false, wantAsk: true},
		}},
		{name: "a no is asked again every time", calls: []call{
			{at: 0, store: false, want: false, wantAsk: true},
			{at: time.Millisecond, store: false, want: false, wantAsk: true},
			{at: 2 * time.Millisecond, store: true, want: true, wantAsk: true},
		}},
		{name: "a failure is a no and forgets the last yes", calls: []call{
			{at: 0, store: true, want: true, wantAsk: true},
			{at: pendingTrust, fail: true, want: false, wantAsk: true},
			{at: pendingTrust + time.Millisecond, store: false, want: false, wantAsk: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				now   time.Time
				asked bool
				next  call
			)
			p := &pendingProbe{now: func() time.Time { return now }, ask: func(context.Context) (bool, error) {
				asked = true
				if next.fail {
					return false, errors.New("store down")
				}
				return next.store, nil
			}}
			for i, c := range tt.calls {
				now, asked, next = t0.Add(c.at), false, c
				if got := p.pending(context.Background()); got != c.want || asked != c.wantAsk {
					t.Errorf("call %d: pending %v (asked the store %v), want %v (%v)", i, got, asked, c.want, c.wantAsk)
				}
			}
		})
	}
}
