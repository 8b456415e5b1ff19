package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
)

// More concurrent reads than read connections, on a store whose statements
// are not prepared yet, all finish: preparing a statement never waits for a
// connection while the caller holds one (it did, and every reader hung).
func TestConcurrentReadsWithColdStatementCache(t *testing.T) {
	s := MustOpenSQLite(t, Options{})
	mustApply(t, s, cust("crm", "C1", 1, hub.Customer{FullName: "Ada Muster", Emails: []string{"ada@example.com"}}))
	views, err := s.FindCustomers(context.Background(), hub.CustomerFilter{System: "crm", SourceID: "C1"})
	if err != nil || len(views) != 1 {
		t.Fatalf("find: %v %v", views, err)
	}
	id := views[0].ID
	for round := range 3 {
		s.reads.close() // cold again
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.FindCustomer360(ctx, id, firstPages()); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		cancel()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
