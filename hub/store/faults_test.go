package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/testenv"
)

// A read-only SQLite database is not bad data: Apply says ErrUnavailable,
// and once writable again the same events apply. A record the store
// refuses for itself is not ErrUnavailable.
func TestApplyReadOnlySQLiteIsUnavailable(t *testing.T) {
	s := MustOpenSQLite(t, Options{})
	ctx := context.Background()
	// The single writer connection turns read-only, as a database file
	// mounted read-only or a full disk's refusal does.
	if _, err := s.db.ExecContext(ctx, `PRAGMA query_only = ON`); err != nil {
		t.Fatal(err)
	}
	ev := cust("crm", "C1", 1, hub.Customer{FullName: "Ada Muster", Emails: []string{"ada@example.com"}})
	_, err := s.Apply(ctx, []hub.Envelope{ev})
	if !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("apply on a read-only database: %v, want ErrUnavailable", err)
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA query_only = OFF`); err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, ev)
	bad := ev
	bad.EventID = ""
	if _, err := s.Apply(ctx, []hub.Envelope{bad}); err == nil || errors.Is(err, hub.ErrUnavailable) {
		t.Errorf("a bad event: %v, want a record error, not ErrUnavailable", err)
	}
}

// PostgreSQL connections killed by pg_terminate_backend (a failover, an
// operator): the failing Apply says ErrUnavailable, the next one works.
func TestApplyTerminatedPostgresIsUnavailable(t *testing.T) {
	// Only this store's connections are killed: other tests share the
	// database.
	app := fmt.Sprintf("crmhub_fault_%d", time.Now().UnixNano())
	dsn := testenv.Postgres(t) + "&application_name=" + app
	s := mustOpen(t, DriverPostgres, dsn, Options{})
	ctx := context.Background()
	mustApply(t, s, cust("crm", "C1", 1, hub.Customer{FullName: "Ada Muster", Emails: []string{"ada@example.com"}}))
	admin, err := sql.Open("pgx", testenv.PostgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no store connection to terminate")
	}
	_, err = s.Apply(ctx, []hub.Envelope{cust("crm", "C2", 2, hub.Customer{FullName: "Bea Muster", Emails: []string{"bea@example.com"}})})
	t.Logf("apply after %d connections were killed: %v", n, err)
	if err != nil && !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("apply after the connections were killed: %v, want ErrUnavailable", err)
	}
	mustApply(t, s, cust("crm", "C3", 3, hub.Customer{FullName: "Cem Muster", Emails: []string{"cem@example.com"}}))
}
