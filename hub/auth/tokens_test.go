package auth_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub/auth"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/testenv"
)

// migrated runs the hub store's migrations on a database, which create
// the tokens table.
func migrated(t testing.TB, driver, dsn string) {
	t.Helper()
	st, err := store.Open(context.Background(), driver, dsn, store.Options{RecordCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func openSQLite(t *testing.T) (*auth.Store, string, *prometheus.Registry) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hub.db")
	migrated(t, "sqlite", path)
	reg := prometheus.NewRegistry()
	s, err := auth.Open(context.Background(), "sqlite", path, auth.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path, reg
}

func TestTokensSQLite(t *testing.T) {
	s, _, reg := openSQLite(t)
	testLifecycle(t, s)
	for result, want := range map[string]float64{"ok": 1, "revoked": 1, "invalid": 5} {
		if got := counter(t, reg, result); got != want {
			t.Fatalf("crmhub_auth_verifications_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

func TestTokensPostgresIntegration(t *testing.T) {
	dsn := testenv.Postgres(t)
	migrated(t, "postgres", dsn)
	s, err := auth.Open(context.Background(), "postgres", dsn, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testLifecycle(t, s)
	// A second instance on the same database sees the same tokens.
	s2, err := auth.Open(context.Background(), "pgx", dsn, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	secret, _, err := s.Create(context.Background(), "shared", []auth.Scope{auth.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := s2.Verify(context.Background(), secret); err != nil || tok.Name != "shared" {
		t.Fatalf("other instance: %+v %v", tok, err)
	}
	if _, err := s2.Revoke(context.Background(), "shared"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(context.Background(), secret); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("revoked on the other instance still verifies: %v", err)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "crmhub_auth_verifications_total" {
			continue
		}
		for _, m := range mf.Metric {
			if m.Label[0].GetValue() == result {
				return m.Counter.GetValue()
			}
		}
	}
	t.Fatalf("no crmhub_auth_verifications_total{result=%q}", result)
	return 0
}

func testLifecycle(t *testing.T, s *auth.Store) {
	ctx := context.Background()
	secret, tok, err := s.Create(ctx, "erp-sync", []auth.Scope{auth.ScopeFinance, auth.ScopeSales, auth.ScopeFinance})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, auth.TokenPrefix) || tok.ID == "" {
		t.Fatalf("create: %q %+v", secret, tok)
	}
	if got := tok.Scopes; len(got) != 2 || got[0] != auth.ScopeFinance || got[1] != auth.ScopeSales {
		t.Fatalf("scopes not deduplicated and sorted: %v", got)
	}
	got, err := s.Verify(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != tok.ID || got.Name != "erp-sync" || !got.Has(auth.ScopeSales) || got.Has(auth.ScopeAdmin) {
		t.Fatalf("verify: %+v", got)
	}
	// A token one character off, a foreign string, the hash itself: all refused.
	wrong := secret[:len(secret)-1] + "A"
	if strings.HasSuffix(secret, "A") {
		wrong = secret[:len(secret)-1] + "B"
	}
	for _, bad := range []string{wrong, "", "Bearer " + secret, auth.Hash(secret), "crmhub_short"} {
		if _, err := s.Verify(ctx, bad); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("verify %q: %v, want ErrInvalidToken", bad, err)
		}
	}
	if _, _, err := s.Create(ctx, "erp-sync", []auth.Scope{auth.ScopeSales}); !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("second live token with one name: %v", err)
	}
	for _, c := range []struct {
		name   string
		scopes []auth.Scope
	}{{"", []auth.Scope{auth.ScopeSales}}, {"has space", []auth.Scope{auth.ScopeSales}}, {"x", nil}, {"x", []auth.Scope{"root"}}} {
		if _, _, err := s.Create(ctx, c.name, c.scopes); !errors.Is(err, auth.ErrInvalid) {
			t.Fatalf("create %q %v: %v, want ErrInvalid", c.name, c.scopes, err)
		}
	}
	list, err := s.List(ctx, false)
	if err != nil || len(list) != 1 || list[0].Name != "erp-sync" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := s.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, secret); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("revoked token verifies: %v", err)
	}
	if _, err := s.Revoke(ctx, "erp-sync"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
	// The name is free again after revocation.
	secret2, _, err := s.Create(ctx, "erp-sync", []auth.Scope{auth.ScopeSales})
	if err != nil {
		t.Fatal(err)
	}
	if secret2 == secret {
		t.Fatal("same secret issued twice")
	}
	if list, _ := s.List(ctx, false); len(list) != 1 {
		t.Fatalf("live tokens: %+v", list)
	}
	if all, _ := s.List(ctx, true); len(all) != 2 || all[0].RevokedAt.IsZero() {
		t.Fatalf("all tokens: %+v", all)
	}
}

// The database never holds a secret: neither in any column nor anywhere in
// the SQLite files (main database and WAL).
func TestSecretsHashedAtRest(t *testing.T) {
	s, path, _ := openSQLite(t)
	ctx := context.Background()
	var secrets []string
	for _, name := range []string{"a", "b", "c"} {
		secret, _, err := s.Create(ctx, name, []auth.Scope{auth.ScopeAdmin})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(ctx, secret); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secret)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, name, scopes, hash, created_at, last_used_at, revoked_at FROM api_tokens`)
	if err != nil {
		t.Fatal(err)
	}
	var hashes []string
	for rows.Next() {
		cols := make([]string, 7)
		ptrs := make([]any, 7)
		for i := range cols {
			ptrs[i] = &cols[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := strings.Join(cols, "|")
		for _, sec := range secrets {
			if strings.Contains(row, sec) || strings.Contains(row, strings.TrimPrefix(sec, auth.TokenPrefix)) {
				t.Fatalf("row %q holds a secret", row)
			}
		}
		hashes = append(hashes, cols[3])
	}
	rows.Close()
	for i, sec := range secrets {
		if hashes[i] != auth.Hash(sec) {
			t.Fatalf("row %d hash %s, want sha256 of the secret", i, hashes[i])
		}
	}
	s.Close()
	db.Close()
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(strings.TrimPrefix(sec, auth.TokenPrefix))) {
				t.Fatalf("%s holds a secret", f)
			}
		}
	}
}

func TestLastUsedThrottled(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "hub.db")
	migrated(t, "sqlite", path)
	s, err := auth.Open(context.Background(), "sqlite", path, auth.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	secret, _, err := s.Create(ctx, "a", []auth.Scope{auth.ScopeSales})
	if err != nil {
		t.Fatal(err)
	}
	used := func() time.Time {
		l, err := s.List(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		return l[0].LastUsed
	}
	if !used().IsZero() {
		t.Fatal("unused token has last_used_at")
	}
	_, _ = s.Verify(ctx, secret)
	if !used().Equal(now) {
		t.Fatalf("last used %v, want %v", used(), now)
	}
	first := now
	now = now.Add(10 * time.Second)
	_, _ = s.Verify(ctx, secret)
	if !used().Equal(first) {
		t.Fatalf("written again within a minute: %v", used())
	}
	now = now.Add(2 * time.Minute)
	_, _ = s.Verify(ctx, secret)
	if !used().Equal(now) {
		t.Fatalf("not written after a minute: %v", used())
	}
}

func TestParseScopes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		err  bool
	}{
		{"sales", "sales", false},
		{"finance, Sales ,sales", "finance,sales", false},
		{"admin,steward,service", "admin,service,steward", false},
		{"", "", true},
		{" , ", "", true},
		{"sales,root", "", true},
	} {
		got, err := auth.ParseScopes(c.in)
		if (err != nil) != c.err {
			t.Fatalf("%q: err %v", c.in, err)
		}
		var parts []string
		for _, s := range got {
			parts = append(parts, string(s))
		}
		if strings.Join(parts, ",") != c.want {
			t.Fatalf("%q: %v, want %s", c.in, got, c.want)
		}
	}
}

// A database the store never migrated has no tokens table: Open says so
// instead of failing at the first request.
func TestOpenWithoutMigrations(t *testing.T) {
	_, err := auth.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "hub.db"), auth.Options{})
	if !errors.Is(err, auth.ErrNoTable) {
		t.Fatalf("Open on an empty database: %v, want ErrNoTable", err)
	}
}
