package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
)

func TestValueFirstFillSQLite(t *testing.T) { testValueFirstFill(t, MustOpenSQLite) }

func TestValueFirstFillPostgresIntegration(t *testing.T) { testValueFirstFill(t, MustOpenPostgres) }

// A store created empty writes no marks while its first load applies, and
// computes every customer's figures in one sweep once the load has been
// quiet for the drain's quiet (or, loading on, sweepWaitFactor x maxLag
// after its first batch); a sweep cut short resumes where it committed,
// and changes after it started are marked as in a store in use. The
// figures and totals then equal a recomputation from the raw records.
func testValueFirstFill(t *testing.T, open opener) {
	const quiet, maxLag = time.Second, 3 * time.Second
	ctx := context.Background()
	d := genValue(11, 9)
	s := openValue(t, open, Options{Value: ValueOptions{Deferred: true}})
	t0 := time.Date(2026, 6, 30, 9, 0, 0, 0, time.UTC)
	wall := t0
	s.val.wall = func() time.Time { return wall }
	if pending, err := s.ValueMarksPending(ctx); err != nil || pending {
		t.Fatalf("empty store: pending %v (%v), want nothing to sweep", pending, err)
	}
	if !s.ValueFilling() {
		t.Fatal("a new store is not filling")
	}
	// An idle new store keeps its sweep for the load to come.
	wall = t0.Add(time.Hour)
	if n, err := s.DrainSettled(ctx, 4, quiet, maxLag, nil); err != nil || n != 0 || s.val.sweep.gone.Load() {
		t.Fatalf("empty store, idle: drained %d (%v), sweep gone %v; want the sweep kept", n, err, s.val.sweep.gone.Load())
	}
	wall = t0
	// The load, a batch every 400 ms: past sweepWaitFactor x maxLag the
	// sweep starts though it never went quiet.
	half := len(d.events) / 2
	q := half / 3
	for i, evs := range [][]hub.Envelope{d.events[:q], d.events[q : 2*q]} {
		mustApply(t, s, evs...)
		if n := countMarks(t, s); n != 0 {
			t.Fatalf("batch %d of the first load wrote %d marks", i, n)
		}
		wall = wall.Add(400 * time.Millisecond)
		if n, err := s.DrainSettled(ctx, 4, quiet, maxLag, nil); err != nil || n != 0 {
			t.Fatalf("loading: drained %d (%v), want the sweep to wait", n, err)
		}
	}
	// The last batch of this part 200 ms before the bound: not quiet.
	wall = t0.Add(sweepWaitFactor*maxLag - 200*time.Millisecond)
	mustApply(t, s, d.events[2*q:half]...)
	if pending, err := s.ValueMarksPending(ctx); err != nil || !pending {
		t.Fatalf("loaded: pending %v (%v), want the sweep pending", pending, err)
	}
	left, err := s.ValuePending(ctx)
	if err != nil || left != countActive(t, s) {
		t.Fatalf("loaded: %d pending (%v), want every active golden (%d)", left, err, countActive(t, s))
	}
	if got := storedJSON(t, s, goldenOf(t, s, "crm", "C00")); got != "none" {
		t.Fatalf("figures computed during the load: %s", got)
	}
	// At the bound the sweep starts, loading or not. A crash after its
	// first chunk: took cancels the context once that chunk committed.
	wall = t0.Add(sweepWaitFactor * maxLag)
	cctx, cancel := context.WithCancel(ctx)
	var cursor string
	_, err = s.DrainSettled(cctx, 4, quiet, maxLag, func(ids []string, _ int64) {
		cursor = ids[len(ids)-1]
		cancel()
	})
	if !errors.Is(err, context.Canceled) || cursor == "" {
		t.Fatalf("sweep cut short: %v, cursor %q", err, cursor)
	}
	// A new process: nothing in memory. The rest of the load applies
	// with marks (the sweep has started), a golden it passed included.
	s.val.sweep = sweepState{}
	mustApply(t, s, d.events[half:]...)
	if countMarks(t, s) == 0 {
		t.Fatal("after the sweep started, the load wrote no marks")
	}
	// The sweep resumes at once (it started), then the marks settle.
	wall = wall.Add(100 * time.Millisecond)
	if _, err := s.DrainSettled(ctx, 4, quiet, maxLag, nil); err != nil {
		t.Fatal(err)
	}
	if !s.val.sweep.gone.Load() || s.ValueFilling() {
		t.Fatal("sweep not finished")
	}
	wall = wall.Add(quiet)
	if _, err := s.DrainSettled(ctx, 4, quiet, maxLag, nil); err != nil {
		t.Fatal(err)
	}
	if n := countMarks(t, s); n != 0 {
		t.Fatalf("%d marks left", n)
	}
	for id, in := range d.raw {
		if got, want := storedJSON(t, s, goldenOf(t, s, "crm", id)), wantFigures(t, in); got != want {
			t.Errorf("%s:\n got %s\nwant %s", id, got, want)
		}
	}
	checkTotals(t, s, d)
	// A store past its first fill marks from the first batch.
	opened := valueNow.Add(-time.Hour)
	sc := hub.ServiceCase{CaseNumber: "C00-late", CustomerRef: hub.Ref{System: "crm", ID: "C00"}, Status: "open", OpenedAt: &opened}
	d.raw["C00"].Cases = append(d.raw["C00"].Cases, sc)
	mustApply(t, s, ev(hub.EntityServiceCase, "desk", "cases", sc.CaseNumber, 900, sc))
	if countMarks(t, s) == 0 {
		t.Fatal("after the first fill, apply wrote no mark")
	}
	drainAll(t, s, 10)
	if got, want := storedJSON(t, s, goldenOf(t, s, "crm", "C00")), wantFigures(t, d.raw["C00"]); got != want {
		t.Errorf("C00 after a late case:\n got %s\nwant %s", got, want)
	}
}

// A first load that pauses is swept once quiet: the sweep takes every
// golden, whatever the order of the load's batches.
func TestValueFirstFillQuiet(t *testing.T) {
	const quiet, maxLag = time.Second, 30 * time.Second
	ctx := context.Background()
	d := genValue(12, 7)
	s := openValue(t, MustOpenSQLite, Options{Value: ValueOptions{Deferred: true}})
	wall := time.Date(2026, 6, 30, 9, 0, 0, 0, time.UTC)
	s.val.wall = func() time.Time { return wall }
	applyChunked(t, s, d.events)
	wall = wall.Add(quiet - time.Millisecond)
	if n, err := s.DrainSettled(ctx, 3, quiet, maxLag, nil); err != nil || n != 0 {
		t.Fatalf("before quiet: drained %d (%v)", n, err)
	}
	wall = wall.Add(time.Millisecond)
	// No re-cut while the sweep runs (took asks after each transaction),
	// and one once it has passed the last golden.
	var took []string
	active := countActive(t, s)
	n, err := s.DrainSettled(ctx, 3, quiet, maxLag, func(ids []string, _ int64) {
		took = append(took, ids...)
		if len(took) == active {
			return // the last transaction: the sweep is over
		}
		if due, err := s.ValueCutStale(ctx, false); err != nil || due {
			t.Errorf("a re-cut due mid-sweep (%v), after %d goldens", err, len(took))
		}
	})
	if err != nil || n != countActive(t, s) || len(took) != n {
		t.Fatalf("quiet: swept %d, heard of %d (%v), want every active golden (%d)", n, len(took), err, countActive(t, s))
	}
	if due, err := s.ValueCutStale(ctx, false); err != nil || !due {
		t.Errorf("after the sweep: re-cut due %v (%v), want the first cut", due, err)
	}
	for id, in := range d.raw {
		if got, want := storedJSON(t, s, goldenOf(t, s, "crm", id)), wantFigures(t, in); got != want {
			t.Errorf("%s:\n got %s\nwant %s", id, got, want)
		}
	}
	checkTotals(t, s, d)
}

func countActive(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM goldens WHERE status = 'active'`).Scan(&n); err != nil {
		t.Fatal(fmt.Errorf("count active goldens: %w", err))
	}
	return n
}
