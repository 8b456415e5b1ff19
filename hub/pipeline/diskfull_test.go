package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/store"
)

// fillUp caps the SQLite file at the pages it has now (PRAGMA
// max_page_count on the store's single writer connection), so the next
// write that needs a page fails with SQLITE_FULL, "database or disk is
// full": the error a full disk gives, without filling one. raise lifts
// the cap again. (hub/store tests the store's own answer to a full disk;
// this is the applier's, here so the store's tests link no Kafka.)
func fillUp(t *testing.T, s *store.Store) (raise func()) {
	t.Helper()
	ctx := context.Background()
	db := s.DB().Write
	// Free pages (rows deleted by the apply so far) would still take a
	// record in: the file holds none after a VACUUM.
	if _, err := db.ExecContext(ctx, `VACUUM`); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	var limit int
	if err := db.QueryRowContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)).Scan(&limit); err != nil {
		t.Fatal(err)
	}
	if limit != pages {
		t.Fatalf("max_page_count = %d, want %d (the file's pages)", limit, pages)
	}
	return func() {
		t.Helper()
		if _, err := db.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
			t.Fatal(err)
		}
	}
}

// fullCustomer is customer i of erp, with a note of pad bytes: 6,000 need
// overflow pages, so the record fits into no free space left in the file.
func fullCustomer(i int, pad string) hub.Envelope {
	data, _ := json.Marshal(map[string]any{"kind": "person", "full_name": fmt.Sprintf("Full Disk %d", i),
		"emails": []string{fmt.Sprintf("full%d@example.de", i)}, "custom": map[string]string{"note": pad}})
	e := hub.Envelope{System: "erp", SourceEntity: "customers", SourceID: fmt.Sprintf("F%d", i), Entity: hub.EntityCustomer,
		Op: hub.OpUpsert, SourceUpdatedAt: time.Date(2026, 3, 1, 0, i, 0, 0, time.UTC), SchemaVersion: hub.SchemaVersion,
		Connector: "erp", Data: data}
	e.ComputeEventID()
	return e
}

func bigCustomers(n int) []hub.Envelope {
	var out []hub.Envelope
	for i := range n {
		out = append(out, fullCustomer(i+1, strings.Repeat("x", 6000)))
	}
	return out
}

// A full disk pauses the applier the way a locked or read-only store does:
// it reports why, raises crmhub_hub_applier_paused, dead-letters nothing,
// and applies everything by itself once there is room again.
func TestApplierPausesWhileSQLiteIsFull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := store.Open(ctx, store.DriverSQLite, filepath.Join(t.TempDir(), "hub.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Apply(ctx, []hub.Envelope{fullCustomer(0, "")}); err != nil {
		t.Fatal(err)
	}
	b, err := bus.Open(ctx, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "full", Partitions: 1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	raise := fillUp(t, s)
	evs := bigCustomers(30)
	a, metrics, stop := runApplier(ctx, t, b, s, "full-hub", evs)
	defer stop()

	waitUntil(t, "the applier to pause", func() bool { return a.Paused() != nil })
	why := a.Paused()
	t.Logf("paused: %v", why)
	if !strings.Contains(why.Error(), "full") {
		t.Errorf("paused: %v, want the reason (database or disk is full)", why)
	}
	if g := testutil.ToFloat64(metrics.ApplierPaused); g != 1 {
		t.Errorf("crmhub_hub_applier_paused = %v while the database is full", g)
	}
	// Several retries while full, each must pause again, not dead-letter.
	waitUntil(t, "retries while full", func() bool {
		return testutil.ToFloat64(metrics.ApplyError.WithLabelValues("store_unavailable")) >= 3
	})
	if c, err := s.Counts(ctx); err != nil || c.SourceRecords != 1 {
		t.Fatalf("source records while full: %+v %v, want only the first", c, err)
	}
	raise()
	waitUntil(t, "every record applied", func() bool {
		c, err := s.Counts(ctx)
		return err == nil && c.SourceRecords == 31
	})
	resumedRefusingNothing(ctx, t, a, metrics, b, "full-dlq", "while the database was full")
}
