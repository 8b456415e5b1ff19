package server

import (
	"testing"
	"time"
)

// The loop waits after an estimate for the configured interval or nine
// times what the estimate took, whichever is longer.
func TestNextEstimate(t *testing.T) {
	end := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name           string
		took, interval time.Duration
		want           time.Duration
	}{
		{"quick estimate: the interval", 2 * time.Second, time.Minute, time.Minute},
		{"slow rescore: nine times it", 130 * time.Second, time.Minute, 1170 * time.Second},
		{"no interval: nine times the estimate", time.Second, 0, 9 * time.Second},
		{"nothing took time, no interval: at once", 0, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := nextEstimate(end, c.took, c.interval); !got.Equal(end.Add(c.want)) {
				t.Errorf("next estimate %v after the end, want %v", got.Sub(end), c.want)
			}
		})
	}
}
