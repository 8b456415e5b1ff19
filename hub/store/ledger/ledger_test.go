package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/testenv"
	"github.com/crmhub/crmhub/hub/writeback"
)

var (
	_ writeback.Ledger      = (*Store)(nil)
	_ writeback.ConflictLog = (*Store)(nil)
	_ writeback.TotalsLog   = (*Store)(nil)
	_ writeback.EchoLedger  = (*Store)(nil)
)

// open opens a store on dsn, closed when the test ends, and returns its
// ledger; a second call on the same dsn is a second hub instance.
func open(tb testing.TB, driver, dsn string) *Store {
	tb.Helper()
	st, err := store.Open(context.Background(), driver, dsn, store.Options{RecordCache: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return New(st.DB())
}

// testLedger runs the ledger through two store handles on one database, as
// two hub instances share it: what one records, the other reads.
func testLedger(t *testing.T, la, lb *Store) {
	ctx := context.Background()

	// Waiting conflicts: what one instance records, the other reads with
	// its state; the last of an id wins; an id both set and cleared stays;
	// targets are separate.
	seen := time.Date(2024, 7, 1, 10, 0, 0, 0, time.UTC)
	wc := func(id string, tries int) hub.WritebackConflict {
		return hub.WritebackConflict{GoldenID: id, Seen: seen, Tries: tries}
	}
	if err := la.SetConflicts(ctx, "erp", []hub.WritebackConflict{wc("g2", 1), wc("g1", 1), wc("g2", 2)}, nil); err != nil {
		t.Fatal(err)
	}
	g3 := wc("g3", 8)
	g3.Steward, g3.Detail = true, `{"email":{"hub":"a@x","system":"b@x"}}`
	if err := la.SetConflicts(ctx, "erp", []hub.WritebackConflict{g3}, []string{"g1", "g3", "g9"}); err != nil {
		t.Fatal(err)
	}
	got, err := lb.Conflicts(ctx, "erp")
	if err != nil || len(got) != 2 {
		t.Fatalf("conflicts seen by the other instance = %+v %v, want g2 and g3", got, err)
	}
	if c := got[0]; c.GoldenID != "g2" || c.Tries != 2 || !c.Seen.Equal(seen) || c.Steward || c.Target != "erp" {
		t.Errorf("g2 = %+v, want tries 2, seen %v, waiting for a retry", c, seen)
	}
	if c := got[1]; c.GoldenID != "g3" || !c.Steward || c.Detail != g3.Detail || c.Tries != 8 {
		t.Errorf("g3 = %+v, want a steward task with its detail", c)
	}
	if ids, err := lb.Conflicts(ctx, "shop"); err != nil || len(ids) != 0 {
		t.Errorf("another target's conflicts = %v %v", ids, err)
	}
	if all, err := lb.Conflicts(ctx, ""); err != nil || len(all) != 2 {
		t.Errorf("every target's conflicts = %v %v", all, err)
	}

	if h, tc, err := lb.Written(ctx, "erp", []string{"K1"}); err != nil || len(h) != 0 || len(tc) != 0 {
		t.Fatalf("empty ledger: %v %v %v", h, tc, err)
	}
	if err := la.Record(ctx, "erp", map[string]string{"K1": "h1", "K2": "h2"}, map[string]string{"K1": `{"updated_at":"2024-07-01 14:30:00"}`}, nil); err != nil {
		t.Fatal(err)
	}
	h, tc, err := lb.Written(ctx, "erp", []string{"K1", "K2", "K3", "K1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h["K1"] != "h1" || h["K2"] != "h2" {
		t.Errorf("hashes seen by the other instance = %v", h)
	}
	if len(tc) != 1 || tc["K1"] != `{"updated_at":"2024-07-01 14:30:00"}` {
		t.Errorf("touches seen by the other instance = %v", tc)
	}
	// Targets are separate.
	if h, _, err := lb.Written(ctx, "shop", []string{"K1"}); err != nil || len(h) != 0 {
		t.Errorf("another target sees %v %v", h, err)
	}
	// The other instance overwrites: the first one sees it, touch cleared.
	if err := lb.Record(ctx, "erp", map[string]string{"K1": "h1b"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if h, tc, err := la.Written(ctx, "erp", []string{"K1"}); err != nil || h["K1"] != "h1b" || tc["K1"] != "" {
		t.Errorf("after an overwrite: %v %v %v", h, tc, err)
	}

	// Batches larger than one statement, recorded by both instances at
	// once over the same ids: no deadlock, every id ends with one of the
	// two hashes, and one read returns them all.
	ids := make([]string, 1000)
	ha, hb := map[string]string{}, map[string]string{}
	for i := range ids {
		ids[i] = fmt.Sprintf("R%04d", i)
		ha[ids[i]], hb[ids[i]] = "a"+ids[i], "b"+ids[i]
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, pair := range []struct {
		l *Store
		h map[string]string
	}{{la, ha}, {lb, hb}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if err := pair.l.Record(ctx, "bulk", pair.h, nil, nil); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent record: %v", err)
		}
	}
	h, _, err = la.Written(ctx, "bulk", ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != len(ids) {
		t.Fatalf("read %d of %d ids", len(h), len(ids))
	}
	for _, id := range ids {
		if h[id] != ha[id] && h[id] != hb[id] {
			t.Fatalf("%s = %q", id, h[id])
		}
	}
}

func TestLedgerSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	testLedger(t, open(t, store.DriverSQLite, path), open(t, store.DriverSQLite, path))
}

func TestLedgerIntegration(t *testing.T) {
	dsn := testenv.Postgres(t)
	testLedger(t, open(t, store.DriverPostgres, dsn), open(t, store.DriverPostgres, dsn))
}
