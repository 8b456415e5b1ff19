package store

import (
	"context"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
)

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

// An Apply in progress counts as apply running, waiting for the writer
// included: LastApply is now while one waits, and its return once done.
func TestLastApplyWhileWaiting(t *testing.T) {
	s := MustOpenSQLite(t, Options{})
	if !s.LastApply().IsZero() {
		t.Fatalf("LastApply %v before any apply, want zero", s.LastApply())
	}
	s.applyMu.Lock() // the writer held, as a recompute's transaction holds it
	done := make(chan error, 1)
	go func() {
		_, err := s.Apply(context.Background(), []hub.Envelope{cust("crm", "C1", 1, hub.Customer{FullName: "Ada Muster"})})
		done <- err
	}()
	for s.applying.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if idle := time.Since(s.LastApply()); idle > 10*time.Millisecond {
		t.Errorf("apply waiting for the writer: idle %v, want none", idle)
	}
	s.applyMu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ret := s.LastApply()
	time.Sleep(50 * time.Millisecond)
	if idle := time.Since(s.LastApply()); idle < 50*time.Millisecond || !s.LastApply().Equal(ret) {
		t.Errorf("after the apply returned: idle %v, want its return time", idle)
	}
}
