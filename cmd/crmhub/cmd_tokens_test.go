package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub/auth"
)

func TestTokensCLI(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "crmhub.yaml")
	if err := os.WriteFile(cfgPath, []byte("data_dir: data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCLI(t, "tokens", "create", "--config", cfgPath, "--name", "erp-sync", "--scope", "finance,sales")
	if err != nil {
		t.Fatalf("create: %v %s", err, stderr)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, auth.TokenPrefix) || strings.Count(out, "\n") != 1 || !strings.Contains(stderr, "shown only now") {
		t.Fatalf("create printed %q / %q", out, stderr)
	}
	// The hub's store database (data_dir/crmhub.db) holds it, hashed.
	s, err := auth.Open(context.Background(), "sqlite", filepath.Join(dir, "data", "crmhub.db"), auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok, err := s.Verify(context.Background(), secret)
	if err != nil || tok.Name != "erp-sync" || !tok.Has(auth.ScopeFinance) || !tok.Has(auth.ScopeSales) {
		t.Fatalf("verify the printed token: %+v %v", tok, err)
	}

	out, _, err = runCLI(t, "tokens", "list", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "erp-sync") || !strings.Contains(out, "finance,sales") || strings.Contains(out, secret) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "tokens", "create", "--config", cfgPath, "--name", "x", "--scope", "root"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("unknown scope: %v", err)
	}
	if _, _, err := runCLI(t, "tokens", "create", "--config", cfgPath, "--scope", "admin"); err == nil {
		t.Fatal("create without --name succeeded")
	}
	if out, _, err := runCLI(t, "tokens", "revoke", "--config", cfgPath, "erp-sync"); err != nil || !strings.Contains(out, "revoked token erp-sync") {
		t.Fatalf("revoke: %v %s", err, out)
	}
	if _, err := s.Verify(context.Background(), secret); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("revoked token verifies: %v", err)
	}
	if _, _, err := runCLI(t, "tokens", "revoke", "--config", cfgPath, "erp-sync"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
	out, _, err = runCLI(t, "tokens", "list", "--config", cfgPath, "--all", "--json")
	var toks []auth.Token
	if err != nil || json.Unmarshal([]byte(out), &toks) != nil || len(toks) != 1 || toks[0].RevokedAt.IsZero() {
		t.Fatalf("list --all --json: %v %s", err, out)
	}
	if out, _, _ := runCLI(t, "tokens", "list", "--config", cfgPath); strings.Contains(out, "erp-sync") {
		t.Fatalf("revoked token listed without --all:\n%s", out)
	}
}
