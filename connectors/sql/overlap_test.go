package sqlconn

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// berlin is a wall clock in the source's zone d from now, as the tables of
// these tests keep their updated_at.
func berlin(d time.Duration) string {
	loc, _ := time.LoadLocation("Europe/Berlin")
	return time.Now().Add(d).In(loc).Format("2006-01-02 15:04:05")
}

// overlapScenario: a cursor-polling reader cannot be blinded. A row
// committed late with a cursor value behind the position (an older
// transaction, or a tie on the cursor with a lower key) is still read by
// the overlap re-read, once; a row whose cursor lies in the future of the
// database's clock is read once but does not move the position, so rows
// changed after it in real time are still read.
func overlapScenario(t *testing.T, b backend) {
	// One cursor value for rows 10-12 and the tie: computed twice, a
	// second boundary between the two made the tie sort after the position.
	tieAt := berlin(-3 * time.Second)
	for i := 10; i <= 12; i++ {
		b.insert(t, i, "x", tieAt)
	}
	s := newSource(t, b, nil, 2, map[string]any{"cursor_overlap": "1m"})
	first := drain(t, s, 100)
	if got := ids(first); !slices.Equal(got, []string{"10", "11", "12"}) {
		t.Fatalf("first read %v", got)
	}
	rerun := func() []string {
		t.Helper()
		s.entities[0].lastOverlap = time.Time{} // the pass is due
		return ids(drain(t, s, 100))
	}
	// Nothing new: the re-read hands out nothing twice.
	if got := rerun(); len(got) != 0 {
		t.Fatalf("overlap re-read with nothing new gave %v", got)
	}
	// A row that sorts before the position: a lower key on the same
	// cursor value, and a transaction that committed late.
	b.insert(t, 1, "tie", tieAt)
	b.insert(t, 2, "late", berlin(-10*time.Second))
	if got := ids(drain(t, s, 100)); len(got) != 0 {
		t.Fatalf("keyset read found %v behind the position", got)
	}
	if got := rerun(); !slices.Equal(got, []string{"2", "1"}) {
		t.Fatalf("overlap re-read gave %v, want the late rows 2 and 1", got)
	}
	if got := rerun(); len(got) != 0 {
		t.Fatalf("second overlap re-read gave %v again", got)
	}
	// A row changed again within the second of its cursor value (a cursor
	// of whole seconds keeps its value): the re-read hands out the change.
	b.exec(t, fmt.Sprintf("UPDATE customers SET name = %s WHERE id = %s", b.ph(1), b.ph(2)), "same second", 11)
	if got := ids(drain(t, s, 100)); len(got) != 0 {
		t.Fatalf("keyset read found %v at the position", got)
	}
	s.entities[0].lastOverlap = time.Time{}
	again := drain(t, s, 100)
	if got := ids(again); !slices.Equal(got, []string{"11"}) {
		t.Fatalf("overlap re-read gave %v, want row 11 changed within its cursor second", got)
	}
	// A later version than the one read first, though its cursor value is
	// the same: the hub orders versions by updated-at.
	if !again[0].UpdatedAt.After(first[1].UpdatedAt) {
		t.Errorf("row 11 changed within its second: updated-at %v, not after the first read's %v", again[0].UpdatedAt, first[1].UpdatedAt)
	}
	if got := rerun(); len(got) != 0 {
		t.Fatalf("overlap re-read gave %v again", got)
	}

	// A business time from the future written into the cursor column.
	b.insert(t, 20, "future", berlin(time.Hour))
	if got := ids(drain(t, s, 100)); !slices.Equal(got, []string{"20"}) {
		t.Fatalf("future row read %v", got)
	}
	if got := ids(drain(t, s, 100)); len(got) != 0 {
		t.Fatalf("future row read again: %v", got)
	}
	// A clerk's edit after it, in real time: still read.
	b.insert(t, 21, "clerk", berlin(time.Second))
	if got := ids(drain(t, s, 100)); !slices.Equal(got, []string{"21"}) {
		t.Fatalf("edit after the future row read %v, want 21 (the source was blinded)", got)
	}
}

func TestOverlapSQLite(t *testing.T)              { overlapScenario(t, sqliteBackend(t)) }
func TestOverlapPostgresIntegration(t *testing.T) { overlapScenario(t, postgresBackend(t)) }
func TestOverlapMariaDBIntegration(t *testing.T)  { overlapScenario(t, mariadbBackend(t)) }

// A fresh source whose first row lies in the future of the database's
// clock looks the row up among those handed out before it remembered any:
// that lookup must work on an empty memory (it panicked on an unset hash
// seed, and a restarted hub's ERP plugin crashed on its first page).
func TestFirstRowInTheFutureSQLite(t *testing.T) {
	b := sqliteBackend(t)
	b.insert(t, 1, "future", berlin(time.Hour))
	s := newSource(t, b, nil, 2, map[string]any{"cursor_overlap": "1m"})
	if got := ids(drain(t, s, 100)); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("first read %v, want the future row once", got)
	}
}
