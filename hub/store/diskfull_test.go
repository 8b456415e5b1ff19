package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub"
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
