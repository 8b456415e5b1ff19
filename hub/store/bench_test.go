package store

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

// benchEvents makes n canonical records: three of every four are customers
// (an ERP record, a CRM contact matching it by e-mail and cross reference,
// a service-desk record matching by phone), the fourth an order.
func benchEvents(n int) []hub.Envelope {
	out := make([]hub.Envelope, 0, n)
	for i := 0; len(out) < n; i++ {
		email := fmt.Sprintf("p%d@example.de", i)
		phone := fmt.Sprintf("+4930%07d", i%10000000)
		erp := fmt.Sprintf("K%d", i)
		out = append(out,
			cust("erp", erp, 1, hub.Customer{FamilyName: fmt.Sprintf("Name%c%c", 'a'+i%26, 'a'+i/26%26), GivenName: "G", Emails: []string{email},
				Addresses: []hub.Address{{Street: fmt.Sprintf("Hauptstr. %d", i%200), PostalCode: fmt.Sprintf("%05d", 10000+i%5000), Country: "DE"}}}),
			cust("crm", fmt.Sprintf("c%d", i), 2, hub.Customer{FullName: "G Name", Emails: []string{email}, Phones: []string{phone},
				ExternalIDs: []hub.Ref{{System: "erp", ID: erp}}}),
			cust("svc", fmt.Sprintf("s%d", i), 3, hub.Customer{FamilyName: "Name", Phones: []string{phone}}),
			ev(hub.EntityOrder, "erp", "orders", fmt.Sprintf("A%d", i), 1, hub.Order{OrderNumber: fmt.Sprintf("A%d", i),
				CustomerRef: hub.Ref{System: "erp", ID: erp}, Total: &hub.Money{Amount: "10.00", Currency: "EUR"}}),
		)
	}
	return out[:n]
}

func benchApply(b *testing.B, open opener, opts Options) {
	batch := benchBatch()
	s := open(b, opts)
	evs := benchEvents(b.N)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < len(evs); i += batch {
		if _, err := s.Apply(ctx, evs[i:min(i+batch, len(evs))]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

func BenchmarkApplySQLite(b *testing.B)   { benchApply(b, MustOpenSQLite, Options{}) }
func BenchmarkApplyPostgres(b *testing.B) { benchApply(b, MustOpenPostgres, Options{}) }

var fuzzyOpts = Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}}

func BenchmarkApplySQLiteFuzzy(b *testing.B)   { benchApply(b, MustOpenSQLite, fuzzyOpts) }
func BenchmarkApplyPostgresFuzzy(b *testing.B) { benchApply(b, MustOpenPostgres, fuzzyOpts) }

// benchBatch is the Apply batch size, CRMHUB_BENCH_BATCH or 500.
func benchBatch() int {
	if n, err := strconv.Atoi(os.Getenv("CRMHUB_BENCH_BATCH")); err == nil && n > 0 {
		return n
	}
	return 500
}
