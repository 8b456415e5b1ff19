package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
)

func TestValueSettledSQLite(t *testing.T) { testValueSettled(t, MustOpenSQLite) }

func TestValueSettledPostgresIntegration(t *testing.T) { testValueSettled(t, MustOpenPostgres) }

// DrainSettled takes a customer once its marks stopped moving for quiet,
// or once one is maxLag old while a sync keeps touching it, and its
// figures then equal a recomputation from the raw records.
func testValueSettled(t *testing.T, open opener) {
	const quiet, maxLag = time.Second, 10 * time.Second
	ctx := context.Background()
	d := genValue(9, 6)
	s := openValue(t, open, Options{Value: ValueOptions{Deferred: true}})
	firstFillDone(t, s)
	t0 := time.Date(2026, 6, 30, 9, 0, 0, 0, time.UTC)
	wall := t0
	s.val.wall = func() time.Time { return wall }
	at := func(after time.Duration) { wall = t0.Add(after) }
	applyChunked(t, s, d.events)
	// C00 keeps getting a new service case every 600 ms.
	cases := 0
	touch := func() {
		t.Helper()
		opened := valueNow.Add(-time.Duration(cases) * time.Hour)
		sc := hub.ServiceCase{CaseNumber: fmt.Sprintf("C00-T%d", cases), CustomerRef: hub.Ref{System: "crm", ID: "C00"}, Status: "open", OpenedAt: &opened}
		cases++
		d.raw["C00"].Cases = append(d.raw["C00"].Cases, sc)
		if _, err := s.Apply(ctx, []hub.Envelope{ev(hub.EntityServiceCase, "desk", "cases", sc.CaseNumber, 100+cases, sc)}); err != nil {
			t.Fatal(err)
		}
	}
	drain := func(want int, when string) {
		t.Helper()
		n, err := s.DrainSettled(ctx, 3, quiet, maxLag, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s: took %d marks, want %d", when, n, want)
		}
	}
	check := func(id string, computed bool, when string) {
		t.Helper()
		got := storedJSON(t, s, goldenOf(t, s, "crm", id))
		switch {
		case !computed && got != "none":
			t.Errorf("%s: %s computed while it keeps changing: %s", when, id, got)
		case computed && got != wantFigures(t, d.raw[id]):
			t.Errorf("%s: %s:\n got %s\nwant %s", when, id, got, wantFigures(t, d.raw[id]))
		}
	}
	at(600 * time.Millisecond)
	touch()
	at(900 * time.Millisecond)
	drain(0, "nothing settled yet")
	at(1200 * time.Millisecond)
	// Five customers' golden-id and reference marks; C00's golden-id mark
	// settled too, but is handed to its reference, touched at 600 ms.
	drain(10, "at 1.2s")
	if n := countMarks(t, s); n != 1 {
		t.Errorf("at 1.2s: %d marks left, want C00's reference alone", n)
	}
	for _, id := range []string{"C01", "C02", "C03", "C04", "C05"} {
		check(id, true, "at 1.2s")
	}
	check("C00", false, "at 1.2s")
	for ms := 1800; ms < 10000; ms += 600 {
		at(time.Duration(ms) * time.Millisecond)
		touch()
		drain(0, fmt.Sprintf("at %d ms", ms))
	}
	check("C00", false, "at 9.6s")
	// Its reference took the golden-id mark's first change (at 0): maxLag
	// old, it is taken however it moves.
	at(maxLag + 200*time.Millisecond)
	drain(1, "at the bound")
	check("C00", true, "at the bound")
	at(maxLag + 800*time.Millisecond)
	touch()
	at(maxLag + 1500*time.Millisecond)
	drain(0, "touched 0.7s ago")
	at(maxLag + 1800*time.Millisecond)
	drain(1, "quiet again")
	check("C00", true, "quiet again")
	if n := drainAll(t, s, 100); n != 0 {
		t.Errorf("%d marks left", n)
	}
	checkTotals(t, s, d)
}

func countMarks(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM value_dirty`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The recompute's and the settled pass's reads of the customer records
// of a list of goldens seek records_golden on SQLite, not every customer
// record through records_lookup (the plan SQLite picks without the hint).
func TestValueByGoldenPlan(t *testing.T) {
	s := MustOpenSQLite(t, Options{})
	for _, tt := range []struct {
		name, query string
		args        []any
	}{
		{"inputs of goldens", inputsOfGoldens, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, hinted := range []bool{false, true} {
				q := strings.Replace(tt.query, byGoldenHint, "", 1)
				if hinted {
					q = s.byGolden(tt.query)
				}
				plan := queryPlan(t, s.db, fmt.Sprintf(q, "?, ?, ?"), append([]any{"a", "b", "c"}, tt.args...)...)
				uses := strings.Contains(plan, "records_golden")
				if hinted && !uses {
					t.Errorf("hinted, the plan does not seek records_golden: %v", plan)
				}
				if !hinted {
					t.Logf("without the hint: %v", plan)
				}
			}
		})
	}
}

// The reads of customer_value by a list of ids seek its primary key even
// under statistics taken while the table was small, with which SQLite
// scanned the whole table for each list (byValueID).
func TestValueByIDPlan(t *testing.T) {
	s := MustOpenSQLite(t, Options{})
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sqlite_stat1 WHERE tbl = 'customer_value'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
  ('customer_value', 'sqlite_autoindex_customer_value_1', '10 1'), ('customer_value', 'customer_value_stage', '10 5 2 1')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `ANALYZE sqlite_schema`); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, chunk)
	for i := range ids {
		ids[i] = fmt.Sprintf("g%d", i)
	}
	for _, hinted := range []bool{false, true} {
		q := strings.Replace(valueRowsOf, byValueIDHint, "", 1)
		if hinted {
			q = s.byValueID(valueRowsOf)
		}
		q, args := s.inList(q, ids)
		plan := queryPlan(t, s.db, q, args...)
		seeks := strings.Contains(plan, "sqlite_autoindex_customer_value_1")
		if hinted && !seeks {
			t.Errorf("hinted, the plan does not seek the primary key: %v", plan)
		}
		if !hinted {
			t.Logf("without the hint: %v", plan)
		}
	}
}
