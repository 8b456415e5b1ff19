// Package readme keeps each connector README's parameter table equal to the
// connector's declaration: tests compare the two, and `go test -update`
// rewrites the table between the markers.
package readme

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
)

var update = flag.Bool("update", false, "rewrite the README parameter tables from the declarations")

const (
	start = "<!-- params:start -->"
	end   = "<!-- params:end -->"
)

// Check fails tb when the table between the markers in path differs from
// spec.ParamsMarkdown(); with -update it rewrites the file instead.
func Check(tb testing.TB, spec sdk.Spec, path string) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	text := string(b)
	i := strings.Index(text, start)
	j := strings.Index(text, end)
	if i < 0 || j < i {
		tb.Fatalf("%s: markers %s and %s not found", path, start, end)
	}
	want := "\n" + spec.ParamsMarkdown()
	got := text[i+len(start) : j]
	if got == want {
		return
	}
	if *update {
		out := text[:i+len(start)] + want + text[j:]
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			tb.Fatalf("write %s: %v", path, err)
		}
		return
	}
	tb.Errorf("%s: parameter table differs from the declaration; run go test ./connectors/... -update\n--- got\n%s\n--- want\n%s", path, got, want)
}
