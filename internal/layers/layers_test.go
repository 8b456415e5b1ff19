package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type listed struct {
	ImportPath string
	Imports    []string
}

// modulePackages lists the module's packages with their (non-test)
// imports, from `go list -json` at the module root.
func modulePackages(t *testing.T) []listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = filepath.Join("..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -json ./...: %v\n%s", err, stderr.String())
	}
	var pkgs []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) (string, bool) {
	if path == Module {
		return "", false // the module root holds no package
	}
	return strings.CutPrefix(path, Module+"/")
}

// TestNoPackageImportsALayerAbove fails for each import of a package in
// the same or a higher layer, and for each package the table does not
// place.
func TestNoPackageImportsALayerAbove(t *testing.T) {
	for _, p := range modulePackages(t) {
		from, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		fl := Of(from)
		if fl < 0 {
			t.Errorf("%s is in no layer: add it to Table (internal/layers/layers.go) and ARCHITECTURE.md", from)
			continue
		}
		for _, imp := range p.Imports {
			to, ok := rel(imp)
			if !ok {
				continue
			}
			tl := Of(to)
			switch {
			case tl < 0:
				// reported when the imported package itself is checked
			case tl > fl || tl == fl && !Table[fl].Peers:
				t.Errorf("%s (layer %s) imports %s (layer %s): a package may import lower layers only", from, Table[fl].Name, to, Table[tl].Name)
			}
		}
	}
}

// TestArchitectureShowsTheTable keeps ARCHITECTURE.md's layer table the
// same as Table: the picture a newcomer reads is the one this test checks.
func TestArchitectureShowsTheTable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := MarkdownTable()
	if !bytes.Contains(b, []byte(want)) {
		t.Errorf("ARCHITECTURE.md does not hold the layer table of internal/layers; put this in it:\n%s", want)
	}
}

func TestOf(t *testing.T) {
	tests := []struct {
		pkg  string
		want string
	}{
		{"hub", "core"},
		{"hub/identity", "domain"},
		{"connectors", "wiring"},
		{"connectors/sql", "adapters"},
		{"connectors/internal/apiclient", "support"},
		{"plugins/sdk/sdktest", "support"},
		{"plugins/proto/v1", "core"},
		{"cmd/crmhub", "commands"},
	}
	for _, tt := range tests {
		i := Of(tt.pkg)
		got := "none"
		if i >= 0 {
			got = Table[i].Name
		}
		if got != tt.want {
			t.Errorf("Of(%q) = %s, want %s", tt.pkg, got, tt.want)
		}
	}
	if i := Of("hubx"); i >= 0 {
		t.Errorf("Of(\"hubx\") = %s, want no layer", Table[i].Name)
	}
}

// MarkdownTable is Table as ARCHITECTURE.md shows it.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| layer | packages | holds |\n| --- | --- | --- |\n")
	for i, l := range Table {
		holds := l.Holds
		if l.Peers {
			holds += " (may import each other)"
		}
		fmt.Fprintf(&b, "| %d %s | `%s` | %s |\n", i, l.Name, strings.Join(l.Packages, "`, `"), holds)
	}
	return b.String()
}
