package store

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/crmhub/crmhub/hub"
)

// BenchmarkReads measures the API's reads in the store alone (no HTTP):
// a customer by id with the first page of each list, a search by e-mail
// with whole customers, and a name-prefix summary page of 50, on
// CRMHUB_BENCH_READ_CUSTOMERS customers (default 20,000, as `crmhub bench
// api`). Each op is one request.
func BenchmarkReadsSQLite(b *testing.B) { benchReads(b, MustOpenSQLite) }

func benchReads(b *testing.B, open opener) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("CRMHUB_BENCH_READ_CUSTOMERS")); err == nil && v > 0 {
		n = v
	}
	s := open(b, Options{})
	ctx := context.Background()
	families := []string{"Müller", "Mueller", "Meier", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann"}
	var evs []hub.Envelope
	for i := range n {
		c := hub.Customer{GivenName: fmt.Sprintf("Vorname%d", i%997), FamilyName: families[i%len(families)],
			Emails: []string{fmt.Sprintf("p%d@example.de", i)}, Phones: []string{fmt.Sprintf("+4930%07d", i)},
			Addresses: []hub.Address{{Street: fmt.Sprintf("Hauptstr. %d", i%200), PostalCode: fmt.Sprintf("%05d", 10000+i%9000), City: "Berlin", Country: "DE"}}}
		evs = append(evs, cust("crm", strconv.Itoa(i), 1, c), cust("erp", strconv.Itoa(i), 2, c))
		if len(evs) >= 2000 || i == n-1 {
			mustApply(b, s, evs...)
			evs = evs[:0]
		}
	}
	ids, err := s.strings(ctx, s.rdb, `SELECT id FROM goldens WHERE status = 'active' ORDER BY id`)
	if err != nil || len(ids) != n {
		b.Fatalf("%d golden customers (%v), want %d", len(ids), err, n)
	}
	b.Run("ByID", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := s.FindCustomerByID(ctx, ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Email", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			got, err := s.FindCustomers360(ctx, hub.CustomerFilter{Email: fmt.Sprintf("p%d@example.de", i%n), Limit: 51}, firstPages())
			if err != nil || len(got) != 1 {
				b.Fatalf("%d found, %v", len(got), err)
			}
		}
	})
	b.Run("NamePrefix50", func(b *testing.B) {
		prefixes := []string{"mue", "mei", "sch", "fis", "web", "wag", "bec", "hof"}
		for i := 0; b.Loop(); i++ {
			got, err := s.FindCustomerSummaries(ctx, hub.CustomerFilter{Name: prefixes[i%len(prefixes)], Limit: 51})
			if err != nil || len(got) != 51 {
				b.Fatalf("%d found, %v", len(got), err)
			}
		}
	})
}
