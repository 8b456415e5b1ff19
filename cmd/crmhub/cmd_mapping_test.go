package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var o, e bytes.Buffer
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return o.String(), e.String(), err
}

func TestMappingCLI(t *testing.T) {
	td := filepath.Join("..", "..", "mapping", "testdata")
	mf := filepath.Join(td, "customer_erp", "mapping.yaml")
	in := filepath.Join(td, "customer_erp", "input.jsonl")

	out, stderr, err := runCLI(t, "mapping", "test", mf, "--input", in, "--expect", filepath.Join(td, "customer_erp", "expected.jsonl"))
	if err != nil {
		t.Fatalf("test against the golden file: %v\n%s", err, stderr)
	}
	if n := strings.Count(out, "\n"); n != 10 || !strings.Contains(stderr, "ok: matches") {
		t.Errorf("%d output lines; stderr %s", n, stderr)
	}

	// A changed expected file is a mismatch and a non-zero exit.
	exp := filepath.Join(t.TempDir(), "expected.jsonl")
	b, _ := os.ReadFile(filepath.Join(td, "customer_erp", "expected.jsonl"))
	os.WriteFile(exp, bytes.Replace(b, []byte(`"status":"active"`), []byte(`"status":"blocked"`), 1), 0o644)
	_, stderr, err = runCLI(t, "mapping", "test", mf, "--input", in, "--expect", exp)
	if !errors.Is(err, errMismatch) || !strings.Contains(stderr, "MISMATCH record 1 (10001)") {
		t.Errorf("err = %v, stderr:\n%s", err, stderr)
	}
	// --update writes it back.
	if _, _, err := runCLI(t, "mapping", "test", mf, "--input", in, "--expect", exp, "--update"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(exp); !bytes.Equal(got, b) {
		t.Errorf("--update wrote something else than the golden file")
	}

	// lint: every problem of a broken directory at once, non-zero exit.
	_, stderr, err = runCLI(t, "mapping", "lint", filepath.Join(td, "load_errors"))
	if err == nil || strings.Count(stderr, "mapping.yaml:") < 10 {
		t.Errorf("lint err = %v\n%s", err, stderr)
	}
	out, _, err = runCLI(t, "mapping", "lint", filepath.Join(td, "table_csv"))
	if err != nil || !strings.Contains(out, "ok  fin_debtors") {
		t.Errorf("lint ok dir: %v %s", err, out)
	}

	out, _, err = runCLI(t, "mapping", "docs")
	if err != nil || !strings.Contains(out, "## phone") || !strings.Contains(out, `phone("030/1234567", "DE")  →  "+49301234567"`) {
		t.Errorf("docs: %v\n%.300s", err, out)
	}

	y := filepath.Join(t.TempDir(), "kunden.yaml")
	_, stderr, err = runCLI(t, "mapping", "suggest", "--input", filepath.Join(td, "suggest", "kunden.csv"), "--target", "customer", "--system", "erp", "-o", y)
	if err != nil {
		t.Fatalf("suggest: %v %s", err, stderr)
	}
	_, stderr, err = runCLI(t, "mapping", "test", y, "--input", filepath.Join(td, "suggest", "kunden.csv"))
	if err != nil || !strings.Contains(stderr, "4 mapped") {
		t.Errorf("suggested mapping: %v\n%s", err, stderr)
	}
}

// TestMappingCLIShowsNestedDrops: `mapping test` shows the values a mapping
// drops, also inside map() and filter(), per record and as counts by field
// and reason (what crmhub_mapping_values_dropped_total would count).
func TestMappingCLIShowsNestedDrops(t *testing.T) {
	td := filepath.Join("..", "..", "mapping", "testdata", "drops_nested")
	out, stderr, err := runCLI(t, "mapping", "test", filepath.Join(td, "mapping.yaml"), "--input", filepath.Join(td, "input.jsonl"),
		"--expect", filepath.Join(td, "expected.jsonl"))
	if err != nil {
		t.Fatalf("mapping test: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, `"phones[+1]: phone: not a valid number for the region, left out"`) {
		t.Errorf("no warning for the phone dropped inside map()/filter():\n%s", out)
	}
	for _, want := range []string{
		"dropped: 1 × phones[]: phone: not a valid number for the region",
		"dropped: 1 × phones[]: phone: no country prefix and no region",
		"dropped: 1 × phones[+1]: phone: not a valid number for the region",
		"dropped: 1 × phones[]: phone: unknown region",
		"dropped: 1 × phones[+1]: phone: unknown region",
		"dropped: 1 × emails[]: email: not an e-mail address",
		"dropped: 1 × addresses[0].country: country: not a known country",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}
