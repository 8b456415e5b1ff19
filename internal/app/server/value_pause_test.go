package server

import (
	"context"
	"testing"
	"time"
)

// TestDrainPause: after a long pass the pause waits out its pace while
// apply keeps running, and ends early once apply is idle; a cancelled
// context ends it either way. The paced length (an hour) stands for
// "never" here: a pause that waited it would fail by the test's timeout,
// not by a measured duration.
func TestDrainPause(t *testing.T) {
	every := 20 * time.Millisecond
	idle := func() time.Time { return time.Now().Add(-time.Hour) }
	busy := time.Now
	tests := []struct {
		name      string
		lastApply func() time.Time
		cancelled bool // ctx ends while pausing
		want      bool
	}{
		{"apply idle: no need to wait the pace", idle, false, true},
		{"apply never ran", func() time.Time { return time.Time{} }, false, true},
		{"apply busy: waits until ctx ends", busy, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelled {
				go func() { time.Sleep(10 * every); cancel() }()
			}
			if got := drainPause(ctx, every, time.Hour, tt.lastApply); got != tt.want {
				t.Fatalf("drainPause = %v, want %v", got, tt.want)
			}
		})
	}
}

// Once apply has paused, the pause ends no sooner than every after the
// last apply, when the marks of the last batches have settled, however
// short the pace.
func TestDrainPauseWaitsForTheLastBatch(t *testing.T) {
	every := 40 * time.Millisecond
	// Apply runs for most of the pause's first every, then stops.
	last := time.Now().Add(every * 7 / 10)
	lastApply := func() time.Time {
		if now := time.Now(); now.Before(last) {
			return now
		}
		return last
	}
	if !drainPause(context.Background(), every, 0, lastApply) {
		t.Fatal("drainPause = false, want true")
	}
	if idle := time.Since(last); idle < every {
		t.Fatalf("the pause ended %v after the last apply, before its marks settled (%v)", idle, every)
	}
}
