package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheck compares `crmhub config check` with the expected output
// of each testdata/configcheck/*.yaml: every problem at once, one a line,
// with file:line and key path.
func TestConfigCheck(t *testing.T) {
	files, err := filepath.Glob("testdata/configcheck/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal("no test files", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			root := newRootCmd()
			root.SetOut(&out)
			root.SetArgs([]string{"config", "check", f})
			err = root.Execute()
			if ok := strings.HasSuffix(string(want), ": ok\n"); ok != (err == nil) {
				t.Errorf("error %v, want ok=%v", err, ok)
			}
			if err != nil && !errors.Is(err, errConfigProblems) {
				t.Errorf("error %v, want errConfigProblems", err)
			}
			if out.String() != string(want) {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
			}
		})
	}
}

// TestRunRefusesBadNestedKeyBeforeStarting: a misspelt key inside a
// connector's entities stops `crmhub run` before anything starts (no data
// directory, no store, no broker, no listener).
func TestRunRefusesBadNestedKeyBeforeStarting(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("testdata/configcheck/nested.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "crmhub.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	root.SetArgs([]string{"run", "-c", path})
	err = root.Execute()
	if err == nil {
		t.Fatal("run started with a bad config")
	}
	for _, want := range []string{
		path + ":18: connectors[0].settings.entities[1].tabel: unknown key (did you mean table?)",
		path + ":3: kafka.partitions: want an integer, got \"three\"",
		path + ":29: connectors[1].settings.files[0].encoding",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("data dir exists (%v): the hub started before the config was checked", err)
	}
}
