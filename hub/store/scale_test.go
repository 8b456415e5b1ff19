package store

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/testenv"
)

// A record another instance changed must not be scored from this
// instance's cache: after B rewrites erp/K1 (now "Anna Meier"), A's next
// batch links crm/1 ("Anna Meier", same address) to the new version, as a
// single instance applying the same events in order does.
func TestCacheDistrustsOtherWriters(t *testing.T) {
	for _, tc := range []struct {
		name string
		dsn  func(t *testing.T) (driver, dsn string)
	}{
		{"SQLite", func(t *testing.T) (string, string) { return DriverSQLite, filepath.Join(t.TempDir(), "hub.db") }},
		{"PostgresIntegration", func(t *testing.T) (string, string) { return DriverPostgres, testenv.Postgres(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			driver, dsn := tc.dsn(t)
			a, b := mustOpen(t, driver, dsn, fuzzyOpts), mustOpen(t, driver, dsn, fuzzyOpts)
			addr := []hub.Address{{Street: "Hauptstr. 1", PostalCode: "10115", Country: "DE"}}
			x := cust("erp", "K1", 1, hub.Customer{GivenName: "Anna", FamilyName: "Schmidt", Addresses: addr})
			x2 := cust("erp", "K1", 2, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: addr})
			y := cust("crm", "1", 3, hub.Customer{GivenName: "Anna", FamilyName: "Meier", Addresses: addr})
			mustApply(t, a, x)
			mustApply(t, b, x2)
			mustApply(t, a, y)

			ref := MustOpenSQLite(t, fuzzyOpts)
			mustApply(t, ref, x)
			mustApply(t, ref, x2)
			mustApply(t, ref, y)
			want := snapshot(t, ref)
			if len(want) != 1 {
				t.Fatalf("reference: %d golden customers, want the two Anna Meier records merged into 1", len(want))
			}
			if got := snapshot(t, a); !reflect.DeepEqual(got, want) {
				t.Fatalf("instance A: %d golden customers, want %d as one instance gets", len(got), len(want))
			}
		})
	}
}

// Events recorded before applied_events was keyed by record (an empty rkey) are
// still recognised: replaying one applies nothing and records nothing.
func TestLegacyAppliedEventsStillDeduplicate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	ctx := context.Background()
	s, err := Open(ctx, DriverSQLite, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := cust("erp", "K1", 1, hub.Customer{FamilyName: "Schmidt", Emails: []string{"a@b.de"}})
	mustApply(t, s, e)
	// As a store written before migration 0008 left it.
	if _, err := s.db.ExecContext(ctx, `UPDATE applied_events SET rkey = ''`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, DriverSQLite, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before, _ := s.Counts(ctx)
	st := mustApply(t, s, e)
	if st.Applied != 0 || st.Skipped != 1 {
		t.Fatalf("replayed legacy event: %+v, want skipped", st)
	}
	if after, _ := s.Counts(ctx); after.AppliedEvents != before.AppliedEvents {
		t.Fatalf("applied events %d -> %d, want unchanged", before.AppliedEvents, after.AppliedEvents)
	}
}
