package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/pipeline"
)

// fillUp caps the SQLite file at the pages it has now (PRAGMA
// max_page_count on the store's single writer connection), so the next
// write that needs a page fails with SQLITE_FULL, "database or disk is
// full": the error a full disk gives, without filling one. raise lifts
// the cap again.
func fillUp(t *testing.T, s *Store) (raise func()) {
	t.Helper()
	ctx := context.Background()
	// Free pages (rows deleted by the apply so far) would still take a
	// record in: the file holds none after a VACUUM.
	if _, err := s.db.ExecContext(ctx, `VACUUM`); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := s.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	var limit int
	if err := s.db.QueryRowContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)).Scan(&limit); err != nil {
		t.Fatal(err)
	}
	if limit != pages {
		t.Fatalf("max_page_count = %d, want %d (the file's pages)", limit, pages)
	}
	return func() {
		t.Helper()
		if _, err := s.db.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
			t.Fatal(err)
		}
	}
}

// bigCustomers are n customers with enough data that each of them needs
// new pages (overflow pages: more than a 4 KB page), so none fits into the
// free space left in the file's pages.
func bigCustomers(n int) []hub.Envelope {
	var out []hub.Envelope
	for i := range n {
		out = append(out, cust("erp", fmt.Sprintf("F%d", i), 1, hub.Customer{FullName: fmt.Sprintf("Full Disk %d", i),
			Emails: []string{fmt.Sprintf("full%d@example.de", i)}, Custom: json.RawMessage(`{"note":"` + strings.Repeat("x", 6000) + `"}`)}))
	}
	return out
}

// A full SQLite database (SQLITE_FULL) is not bad data: Apply says
// hub.ErrUnavailable, and the same events apply once there is room.
func TestApplyFullSQLiteIsUnavailable(t *testing.T) {
	s := MustOpenSQLite(t, Options{})
	ctx := context.Background()
	mustApply(t, s, cust("erp", "A", 1, hub.Customer{FullName: "Ada Muster", Emails: []string{"ada@example.com"}}))
	raise := fillUp(t, s)
	evs := bigCustomers(20)
	_, err := s.Apply(ctx, evs)
	if err == nil {
		t.Fatal("apply on a full database succeeded: the fault was not set up")
	}
	if !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("apply on a full database: %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "full") {
		t.Errorf("apply on a full database: %v, want the reason (database or disk is full) in the error", err)
	}
	raise()
	mustApply(t, s, evs...)
	c, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.SourceRecords != 21 {
		t.Errorf("%d source records after the room came back, want 21", c.SourceRecords)
	}
}

// A full disk pauses the applier the way a locked or read-only store does:
// it reports why, raises crmhub_hub_applier_paused, dead-letters nothing,
// and applies everything by itself once there is room again.
func TestApplierPausesWhileSQLiteIsFull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := MustOpenSQLite(t, Options{})
	mustApply(t, s, cust("erp", "A", 1, hub.Customer{FullName: "Ada Muster", Emails: []string{"ada@example.com"}}))
	b, err := bus.Open(ctx, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "full", Partitions: 1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	topics := b.Topics()

	raise := fillUp(t, s)
	evs := bigCustomers(30)
	var msgs []bus.Message
	for _, e := range evs {
		v, _ := json.Marshal(e)
		msgs = append(msgs, bus.Message{Topic: topics.Canonical(hub.EntityCustomer), Key: []byte(e.SourceID), Value: v})
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	metrics := pipeline.NewMetrics(prometheus.NewRegistry())
	a := &pipeline.Apply{Consumer: b.NewConsumer("full-hub", topics.AllCanonical()), Store: s, Publisher: b, Topics: topics,
		BatchSize: 10, Metrics: metrics, Logger: slog.New(slog.DiscardHandler)}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	defer func() { stop(); <-done }()

	waitFull(t, "the applier to pause", func() bool { return a.Paused() != nil })
	why := a.Paused()
	t.Logf("paused: %v", why)
	if !strings.Contains(why.Error(), "full") {
		t.Errorf("paused: %v, want the reason (database or disk is full)", why)
	}
	if g := testutil.ToFloat64(metrics.ApplierPaused); g != 1 {
		t.Errorf("crmhub_hub_applier_paused = %v while the database is full", g)
	}
	// Several retries while full, each must pause again, not dead-letter.
	waitFull(t, "retries while full", func() bool {
		return testutil.ToFloat64(metrics.ApplyError.WithLabelValues("store_unavailable")) >= 3
	})
	if c, err := s.Counts(ctx); err != nil || c.SourceRecords != 1 {
		t.Fatalf("source records while full: %+v %v, want only the first", c, err)
	}
	raise()
	waitFull(t, "every record applied", func() bool {
		c, err := s.Counts(ctx)
		return err == nil && c.SourceRecords == 31
	})
	waitFull(t, "the applier to resume", func() bool { return a.Paused() == nil })
	if g := testutil.ToFloat64(metrics.ApplierPaused); g != 0 {
		t.Errorf("crmhub_hub_applier_paused = %v after resuming", g)
	}
	if n := testutil.ToFloat64(metrics.ApplyError.WithLabelValues("refused")); n != 0 {
		t.Errorf("%v records refused (dead-lettered) while the database was full", n)
	}
	dlq := b.NewConsumer("full-dlq", []string{topics.DeadLetter()})
	defer dlq.Close()
	fctx, fcancel := context.WithTimeout(ctx, 3*time.Second)
	defer fcancel()
	if got, _ := dlq.Fetch(fctx, 10, time.Second); len(got) != 0 {
		t.Errorf("%d dead letters while the database was full, want none", len(got))
	}
}

func waitFull(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
