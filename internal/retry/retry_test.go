package retry

import (
	"context"
	"testing"
	"time"
)

func TestDelayBounds(t *testing.T) {
	tests := []struct {
		name        string
		base, limit time.Duration
		attempt     int
		want        time.Duration // the cap: every draw is in [0, want]
	}{
		{"first retry", 100 * time.Millisecond, 10 * time.Second, 0, 100 * time.Millisecond},
		{"doubles", 100 * time.Millisecond, 10 * time.Second, 3, 800 * time.Millisecond},
		{"capped", 100 * time.Millisecond, time.Second, 10, time.Second},
		{"many attempts do not overflow", time.Millisecond, 30 * time.Second, 1 << 20, 30 * time.Second},
		{"limit below base", time.Second, time.Millisecond, 2, time.Second},
		{"no base", 0, time.Second, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var low, high bool
			for range 2000 {
				d := Delay(tt.base, tt.limit, tt.attempt)
				if d < 0 || d > tt.want {
					t.Fatalf("Delay(%s, %s, %d) = %s, want within [0, %s]", tt.base, tt.limit, tt.attempt, d, tt.want)
				}
				low = low || d < tt.want/4
				high = high || d >= tt.want*3/4
			}
			// Full jitter: draws reach both ends of the range, not only
			// its upper half (the equal jitter this package replaced).
			if tt.want > 0 && !(low && high) {
				t.Errorf("Delay(%s, %s, %d): 2000 draws do not span [0, %s] (low quarter %v, high quarter %v)", tt.base, tt.limit, tt.attempt, tt.want, low, high)
			}
		})
	}
}

func TestBackoffGrowsAndResets(t *testing.T) {
	b := NewBackoff(10*time.Millisecond, 40*time.Millisecond)
	caps := []time.Duration{10, 20, 40, 40, 40}
	for i, c := range caps {
		if d := b.Next(); d > c*time.Millisecond {
			t.Fatalf("wait %d = %s, want at most %s", i, d, c*time.Millisecond)
		}
	}
	b.Reset()
	for range 100 {
		b.Reset()
		if d := b.Next(); d > 10*time.Millisecond {
			t.Fatalf("wait after Reset = %s, want at most 10ms", d)
		}
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on a cancelled context reported to go on")
	}
	if !Sleep(context.Background(), 0) {
		t.Fatal("Sleep(0) on a live context reported to stop")
	}
}
