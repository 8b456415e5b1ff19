package mappingtest

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/mapping"
)

var update = flag.Bool("update", false, "rewrite the expected files of mapping/testdata/*")

// TestGolden walks mapping/testdata/<case>/{mapping.yaml,input.jsonl,expected.jsonl}
// (or expected.err for a mapping that must not load), the same format
// `crmhub mapping test` runs for users.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("../testdata/*/mapping.yaml")
	more, _ := filepath.Glob("../testdata/*/mapping.path")
	dirs = append(dirs, more...)
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, mf := range dirs {
		dir := filepath.Dir(mf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			runGolden(t, dir)
		})
	}
}

func runGolden(t *testing.T, dir string) {
	t.Helper()
	errFile := filepath.Join(dir, "expected.err")
	mf := filepath.Join(dir, "mapping.yaml")
	// mapping.path points at a mapping kept elsewhere (the quickstart's),
	// so the golden case tests the very file the demo ships.
	if p, err := os.ReadFile(filepath.Join(dir, "mapping.path")); err == nil {
		mf = filepath.Join(dir, strings.TrimSpace(string(p)))
	}
	m, err := mapping.LoadFile(mf)
	if _, statErr := os.Stat(errFile); statErr == nil || (err != nil && *update) {
		if err == nil {
			t.Fatalf("mapping loaded, %s expects it to fail", errFile)
		}
		if !errors.Is(err, mapping.ErrLoad) {
			t.Errorf("error is not an ErrLoad: %v", err)
		}
		got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "") + "\n"
		if *update {
			if err := os.WriteFile(errFile, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		want, _ := os.ReadFile(errFile)
		if got != string(want) {
			t.Errorf("load errors differ\n got:\n%s\nwant:\n%s", got, want)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), m, filepath.Join(dir, "input.jsonl"), Options{Expect: filepath.Join(dir, "expected.jsonl"), Update: *update})
	if err != nil {
		t.Fatal(err)
	}
	for _, mm := range rep.Mismatches {
		t.Errorf("record %d (%s):\n got: %s\nwant: %s", mm.Line, mm.SourceID, mm.Got, mm.Want)
	}
	if rep.Mapped == 0 {
		t.Errorf("no record mapped; a golden case should show the happy path too")
	}
}
