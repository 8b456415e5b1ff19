package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/testenv"
)

func TestSummariesFollowGoldensSQLite(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "hub.db")
	testSummariesFollowGoldens(t, func(tb testing.TB) *Store { return mustOpen(tb, DriverSQLite, dsn, Options{}) })
}

func TestSummariesFollowGoldensPostgresIntegration(t *testing.T) {
	dsn := testenv.Postgres(t)
	testSummariesFollowGoldens(t, func(tb testing.TB) *Store { return mustOpen(tb, DriverPostgres, dsn, Options{}) })
}

// Every active golden customer has exactly one summary, equal to its
// golden record's fields, after apply, a merge by a shared e-mail, an
// update, a delete, a steward merge and unmerge; and the 0022 back-fill of
// a store written before it (run again by reopening) gives the same rows.
func testSummariesFollowGoldens(t *testing.T, open func(testing.TB) *Store) {
	s := open(t)
	ctx := context.Background()
	check := func(step string) {
		t.Helper()
		got, want := storedSummaries(t, s), goldenSummaries(t, s)
		if len(want) == 0 {
			t.Fatalf("%s: no active golden customers", step)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: summaries\n%v\nwant (from the golden records)\n%v", step, got, want)
		}
	}
	addr := []hub.Address{{Type: "billing", Street: "Hauptstr. 1", PostalCode: "10115", City: "Berlin", Country: "DE"}}
	mustApply(t, s,
		cust("crm", "c1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Müller", Emails: []string{"anna@example.de", "a2@example.de"}, Addresses: addr}),
		cust("erp", "K1", 1, hub.Customer{FamilyName: "Weber", Phones: []string{"+49301234567"}}),
		cust("erp", "K9", 1, hub.Customer{Kind: "organization", OrganizationName: "Weber \"&\" Söhne GmbH", Emails: []string{"info@weber.example"},
			CreditLimit: &hub.Money{Amount: "5000.00", Currency: "EUR"}}),
		cust("svc", "s1", 1, hub.Customer{FullName: "B. Schulz", Emails: []string{"bs@example.de"}}))
	check("apply")

	// K2 shares Anna's e-mail: one customer, whose survivor record may
	// take K2's newer values.
	mustApply(t, s, cust("erp", "K2", 2, hub.Customer{GivenName: "Anna", FamilyName: "Mueller", Emails: []string{"anna@example.de"},
		Phones: []string{"+49309999999"}, Addresses: []hub.Address{{PostalCode: "80331", City: "München", Country: "DE"}}}))
	check("merge by e-mail")
	mustApply(t, s, cust("svc", "s1", 3, hub.Customer{FullName: "Berta Schulz", Emails: []string{"berta@example.de"}}))
	check("update")
	mustApply(t, s, del("customer", "erp", "customers", "K1", 4))
	check("delete")

	find := func(system, id string) string {
		t.Helper()
		vs, err := s.FindCustomers(ctx, hub.CustomerFilter{System: system, SourceID: id})
		if err != nil || len(vs) != 1 {
			t.Fatalf("find %s/%s: %v %v", system, id, vs, err)
		}
		return vs[0].ID
	}
	anna, schulz := find("crm", "c1"), find("svc", "s1")
	if _, err := s.ForceMerge(ctx, schulz, anna, "steward@x", "same person"); err != nil {
		t.Fatal(err)
	}
	check("steward merge")
	if _, err := s.Unmerge(ctx, anna, "erp/customers/K2", "steward@x", "shared mailbox"); err != nil {
		t.Fatal(err)
	}
	check("steward unmerge")

	// A store from before 0022: no summaries, the migration not applied.
	// Opening it again runs 0022 and 0028, whose back-fills must give the
	// rows the applier writes (0028: the credit limit).
	want := storedSummaries(t, s)
	for _, q := range []string{`DROP TABLE golden_summaries`, `DELETE FROM schema_migrations WHERE version IN (22, 28)`} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = open(t)
	if got := storedSummaries(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("back-filled summaries\n%v\nwant\n%v", got, want)
	}
	check("back-fill")
}

// storedSummaries reads golden_summaries, one row per id.
func storedSummaries(tb testing.TB, s *Store) map[string][]any {
	tb.Helper()
	out := map[string][]any{}
	err := s.scanAll(context.Background(), s.db, `SELECT `+summaryCols+`, credit_limit FROM golden_summaries`, nil, func(r *sql.Rows) error {
		var (
			row    [11]string
			c, u   int64
			credit string
		)
		dest := []any{}
		for i := range row {
			dest = append(dest, &row[i])
		}
		if err := r.Scan(append(dest, &c, &u, &credit)...); err != nil {
			return err
		}
		// The credit limit as the recompute decodes it: the back-fill
		// on PostgreSQL writes jsonb's text, not encoding/json's.
		var limit *hub.Money
		if credit != "" {
			limit = new(hub.Money)
			if err := json.Unmarshal([]byte(credit), limit); err != nil {
				return fmt.Errorf("credit limit of %s: %w", row[0], err)
			}
		}
		if _, dup := out[row[0]]; dup {
			return fmt.Errorf("two summaries of %s", row[0])
		}
		vals := []any{}
		for _, v := range row {
			vals = append(vals, v)
		}
		out[row[0]] = append(vals, c, u, limit)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// goldenSummaries computes the summary of every active golden customer
// from its record as FindCustomerByID reads it.
func goldenSummaries(tb testing.TB, s *Store) map[string][]any {
	tb.Helper()
	ids, err := s.strings(context.Background(), s.db, `SELECT id FROM goldens WHERE status = 'active'`)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]any{}
	for _, id := range ids {
		v, err := s.FindCustomerByID(context.Background(), id)
		if err != nil {
			tb.Fatal(err)
		}
		out[id] = append(summaryRow(id, &v.Customer, nanos(v.CreatedAt), nanos(v.UpdatedAt)), v.Customer.CreditLimit)
	}
	return out
}
