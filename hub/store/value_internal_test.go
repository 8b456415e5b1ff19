package store

import "testing"

// The cut is stale by the quarter while apply is idle and by a factor of
// four while it is busy; never without customers, always without a cut.
func TestCutStale(t *testing.T) {
	tests := []struct {
		n, cut int64
		busy   bool
		want   bool
	}{
		{0, 0, false, false},
		{0, 100, true, false},
		{1, 0, true, true},
		{1, 0, false, true},
		{125, 100, false, false},
		{126, 100, false, true},
		{126, 100, true, false},
		{200, 100, true, false},
		{399, 100, true, false},
		{400, 100, true, true},
		{80, 100, false, false},
		{79, 100, false, true},
		{79, 100, true, false},
		{26, 100, true, false},
		{25, 100, true, true},
	}
	for _, tt := range tests {
		if got := cutStale(tt.n, tt.cut, tt.busy); got != tt.want {
			t.Errorf("cutStale(%d, %d, busy %v) = %v, want %v", tt.n, tt.cut, tt.busy, got, tt.want)
		}
	}
}
