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
