package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBenchQualityCmd(t *testing.T) {
	cmd := newBenchQualityCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--people", "50", "--variant", "names"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "names ") || !strings.Contains(out.String(), "moved") {
		t.Fatalf("unexpected output:\n%s", out.String())
	}
	cmd = newBenchQualityCmd()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--variant", "nope"})
	if err := cmd.Execute(); err == nil {
		t.Fatal("unknown variant accepted")
	}
}

// Outside data in FEBRL's layout: the hand-written file's two people are
// found as one system, and -v prints what was missed with its evidence.
func TestBenchQualityFEBRL(t *testing.T) {
	cmd := newBenchQualityCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--input-a", "../../hub/quality/testdata/febrl_tiny.csv", "-v", "2"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "one system") || !strings.Contains(out.String(), "(true pairs 2,") {
		t.Fatalf("unexpected output:\n%s", out.String())
	}
	cmd = newBenchQualityCmd()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--febrl", t.TempDir()})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "no FEBRL files") {
		t.Fatalf("empty folder: %v", err)
	}
}
