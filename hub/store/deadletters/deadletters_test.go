package deadletters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/testenv"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// openSQLite opens the dead letters of a store on a fresh SQLite file.
func openSQLite(tb testing.TB) *Store {
	tb.Helper()
	return open(tb, store.DriverSQLite, filepath.Join(tb.TempDir(), "hub.db"))
}

// openPostgres opens the dead letters of a store on a fresh schema of the
// test PostgreSQL (skipped without one unless CRMHUB_REQUIRE_SERVICES=1).
func openPostgres(tb testing.TB) *Store {
	tb.Helper()
	return open(tb, store.DriverPostgres, testenv.Postgres(tb))
}

func open(tb testing.TB, driver, dsn string) *Store {
	tb.Helper()
	st, err := store.Open(context.Background(), driver, dsn, store.Options{RecordCache: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return New(st.DB())
}

func deadEntries(n int) []hub.DeadLetterEntry {
	out := make([]hub.DeadLetterEntry, n)
	for i := range out {
		class, conn := hub.ReasonMapping, "erp"
		if i%3 == 0 {
			class, conn = hub.ReasonSource, "finance"
		}
		out[i] = hub.DeadLetterEntry{ID: fmt.Sprintf("crmhub.deadletter:%d:%d", i%2, i), DeadLetter: hub.DeadLetter{
			Connector: conn, System: conn, SourceEntity: "customers", SourceID: fmt.Sprint("K", i),
			Mapping: conn + "_customers", MappingVersion: 1, Field: "credit_limit", ReasonClass: class,
			Reason: "money: cannot read amount", Meta: map[string]string{"file": "a.csv", "line": fmt.Sprint(i + 2)},
			Payload: json.RawMessage(fmt.Sprintf(`{"id":"K%d"}`, i)), At: t0, SourceUpdatedAt: t0.Add(-1e9),
		}}
		if class == hub.ReasonSource {
			out[i].Payload, out[i].Raw = nil, []byte("K;broken;line")
		}
	}
	return out
}

func testDeadLetters(t *testing.T, s *Store) {
	ctx := context.Background()
	in := deadEntries(10)
	n, err := s.IndexDeadLetters(ctx, in)
	if err != nil || n != 10 {
		t.Fatalf("index: %d %v", n, err)
	}
	// Redelivery after a crash stores nothing twice.
	if n, err := s.IndexDeadLetters(ctx, in[5:]); err != nil || n != 0 {
		t.Fatalf("index again: %d %v", n, err)
	}
	got, err := s.FindDeadLetter(ctx, in[3].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := in[3]
	want.Status, want.Seq = hub.DeadLetterOpen, got.Seq
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", *got, want)
	}
	if _, err := s.FindDeadLetter(ctx, "nope:0:0"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}

	// Pages of 3 over the mapping errors of erp see each of them once.
	var ids []string
	f := hub.DeadLetterFilter{ReasonClass: hub.ReasonMapping, Connector: "erp", Limit: 3}
	for {
		page, err := s.ListDeadLetters(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.ReasonClass != hub.ReasonMapping || e.Connector != "erp" {
				t.Fatalf("filter let through %+v", e)
			}
			ids = append(ids, e.ID)
		}
		f.After = page[len(page)-1].Seq
	}
	if len(ids) != 6 {
		t.Fatalf("mapping errors: %v", ids)
	}

	open, err := s.OpenDeadLetters(ctx)
	if err != nil || open[hub.ReasonMapping] != 6 || open[hub.ReasonSource] != 4 {
		t.Fatalf("open: %v %v", open, err)
	}
	e := in[1]
	e.Status, e.ClosedAt, e.Actor, e.Attempts = hub.DeadLetterReplayed, t0, "anna", 1
	if err := s.UpdateDeadLetter(ctx, &e); err != nil {
		t.Fatal(err)
	}
	e.Status = hub.DeadLetterResolved
	if err := s.UpdateDeadLetter(ctx, &e); !errors.Is(err, hub.ErrConflict) {
		t.Fatalf("closing a closed entry: %v", err)
	}
	got, _ = s.FindDeadLetter(ctx, e.ID)
	if got.Status != hub.DeadLetterReplayed || got.Actor != "anna" || got.Attempts != 1 || !got.ClosedAt.Equal(t0) {
		t.Fatalf("after replay: %+v", got)
	}
	if open, _ := s.OpenDeadLetters(ctx); open[hub.ReasonMapping] != 5 {
		t.Fatalf("open after replay: %v", open)
	}
	replayed, _ := s.ListDeadLetters(ctx, hub.DeadLetterFilter{Status: hub.DeadLetterReplayed})
	if len(replayed) != 1 || replayed[0].ID != e.ID {
		t.Fatalf("replayed: %+v", replayed)
	}
	if _, err := s.IndexDeadLetters(ctx, []hub.DeadLetterEntry{{}}); !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("empty id: %v", err)
	}
}

func TestDeadLetters(t *testing.T) { testDeadLetters(t, openSQLite(t)) }

func TestDeadLettersIntegration(t *testing.T) { testDeadLetters(t, openPostgres(t)) }

// A dead letter published again after a crash sits at a new offset: it is
// the same dead letter, indexed once, so the open count is right.
func TestDeadLetterRepublishedIsOneEntry(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *Store{"sqlite": openSQLite, "postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			first := deadEntries(3)
			if n, err := s.IndexDeadLetters(ctx, first); err != nil || n != 3 {
				t.Fatalf("index: %d %v", n, err)
			}
			again := deadEntries(3)
			for i := range again {
				again[i].ID = fmt.Sprintf("crmhub.deadletter:%d:%d", i%2, 100+i) // new offsets
				again[i].At = t0.Add(5e9)                                        // written again later
			}
			again[2].Payload = json.RawMessage(`{"id":"K2","changed":true}`) // another version: a new entry
			n, err := s.IndexDeadLetters(ctx, again)
			if err != nil || n != 1 {
				t.Fatalf("re-published dead letters indexed as %d new entries (%v), want 1: the changed one", n, err)
			}
		})
	}
}

// TestOpenDeadLettersOf: reconciliation counts a source entity's open dead
// letters by record, and a resolved one no longer counts.
func TestOpenDeadLettersOf(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *Store{"sqlite": openSQLite, "postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			in := deadEntries(6) // erp: 1, 2, 4, 5; finance: 0, 3
			if _, err := s.IndexDeadLetters(ctx, in); err != nil {
				t.Fatal(err)
			}
			if n, err := s.OpenDeadLettersOf(ctx, "erp", "customers"); err != nil || n != 4 {
				t.Errorf("open dead letters of erp/customers = %d, %v; want 4", n, err)
			}
			if n, err := s.OpenDeadLettersOf(ctx, "erp", "orders"); err != nil || n != 0 {
				t.Errorf("open dead letters of erp/orders = %d, %v; want 0", n, err)
			}
			// A resolved dead letter no longer explains anything.
			if err := s.UpdateDeadLetter(ctx, &hub.DeadLetterEntry{ID: in[1].ID, DeadLetter: in[1].DeadLetter, Status: hub.DeadLetterResolved}); err != nil {
				t.Fatal(err)
			}
			if n, err := s.OpenDeadLettersOf(ctx, "erp", "customers"); err != nil || n != 3 {
				t.Errorf("open dead letters after resolving one = %d, %v; want 3", n, err)
			}
		})
	}
}
