package store

import (
	"context"
	"slices"
	"testing"

	"github.com/crmhub/crmhub/hub"
)

func testReconcileReads(t *testing.T, s *Store) {
	ctx := context.Background()
	// erp/customers: 1, 2, 10, 9, b, A live after 2 is deleted; crm/customers
	// and erp/orders must not count.
	var evs []hub.Envelope
	for i, id := range []string{"1", "2", "10", "9", "b", "A"} {
		evs = append(evs, cust("erp", id, i, hub.Customer{FamilyName: "N " + id}))
	}
	evs = append(evs, cust("crm", "1", 1, hub.Customer{FamilyName: "other system"}))
	// Keys that share the prefix erp/customers/ or sort right after it.
	evs = append(evs, ev(hub.EntityCustomer, "erp", "customers/eu", "3", 1, hub.Customer{Kind: "person", FamilyName: "look-alike"}))
	evs = append(evs, ev(hub.EntityCustomer, "erp", "customers_eu", "4", 1, hub.Customer{Kind: "person", FamilyName: "neighbour"}))
	evs = append(evs, del(hub.EntityCustomer, "erp", "customers", "2", 20))
	mustApply(t, s, evs...)

	n, err := s.LiveRecordCount(ctx, "erp", "customers")
	if err != nil || n != 5 {
		t.Fatalf("live count = %d, %v; want 5 (6 records, one deleted)", n, err)
	}
	if n, err := s.LiveRecordCount(ctx, "erp", "invoices"); err != nil || n != 0 {
		t.Fatalf("live count of an unknown entity = %d, %v; want 0", n, err)
	}
	var got []string
	after := ""
	for {
		page, err := s.LiveSourceIDs(ctx, "erp", "customers", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1]
	}
	// Byte order (SQLite, and the test PostgreSQL's C.UTF-8 collation):
	// digits, then upper case, then lower.
	if want := []string{"1", "10", "9", "A", "b"}; !slices.Equal(got, want) {
		t.Errorf("live ids = %v, want %v", got, want)
	}
	if !s.byteKeys {
		t.Errorf("record keys of this store do not compare byte by byte")
	}

}

func TestReconcileReadsSQLite(t *testing.T) { testReconcileReads(t, MustOpenSQLite(t, Options{})) }
func TestReconcileReadsPostgresIntegration(t *testing.T) {
	testReconcileReads(t, MustOpenPostgres(t, Options{}))
}
