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
