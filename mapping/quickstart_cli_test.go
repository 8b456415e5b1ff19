package mapping_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickstartCLIWorkflow runs the real crmhub binary the way a data
// engineer does on a quickstart golden case: `crmhub mapping test` against
// the expected file (exit 0), against a changed one (non-zero, the record
// named), and with --update (the file written back as it was).
func TestQuickstartCLIWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the crmhub binary")
	}
	bin := filepath.Join(t.TempDir(), "crmhub")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/crmhub").CombinedOutput(); err != nil {
		t.Fatalf("build crmhub: %v\n%s", err, out)
	}
	dir := filepath.Join("testdata", "quickstart_demo_finance_invoices")
	mf := filepath.Join("..", "deploy", "quickstart", "mappings", "finance_invoices.yaml")
	in := filepath.Join(dir, "input.jsonl")
	run := func(args ...string) (string, string, error) {
		var o, e bytes.Buffer
		cmd := exec.Command(bin, append([]string{"mapping", "test", mf, "--input", in}, args...)...)
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}

	want, err := os.ReadFile(filepath.Join(dir, "expected.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := run("--expect", filepath.Join(dir, "expected.jsonl"))
	if err != nil || !strings.Contains(stderr, "ok: matches") {
		t.Fatalf("golden case: %v\n%s", err, stderr)
	}
	// stdout is one result per record: the broken "n/a" invoice included.
	if strings.Count(out, "\n") != bytes.Count(want, []byte("\n")) || !strings.Contains(out, `"reason_class":"mapping_error"`) {
		t.Errorf("stdout:\n%s", out)
	}
	if !strings.Contains(stderr, "1 failed") {
		t.Errorf("summary does not count the broken invoice: %s", stderr)
	}

	// Someone expects another status for the second invoice: a mismatch
	// naming the record, and a non-zero exit.
	exp := filepath.Join(t.TempDir(), "expected.jsonl")
	changed := bytes.Replace(want, []byte(`"status":"paid"`), []byte(`"status":"open"`), 1)
	if bytes.Equal(changed, want) {
		t.Fatal("the golden case has no paid invoice to change")
	}
	if err := os.WriteFile(exp, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = run("--expect", exp)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 || !strings.Contains(stderr, "MISMATCH record 2 (RE-250003)") {
		t.Errorf("err = %v, stderr:\n%s", err, stderr)
	}
	// --update writes what the mapping produces: the golden file again.
	if _, stderr, err := run("--expect", exp, "--update"); err != nil {
		t.Fatalf("--update: %v\n%s", err, stderr)
	}
	if got, _ := os.ReadFile(exp); !bytes.Equal(got, want) {
		t.Errorf("--update wrote\n%s\nwant\n%s", got, want)
	}
}
