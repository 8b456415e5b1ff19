package layers

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The technologies a package's tests must not link: a domain package is
// tested without a broker, a plugin process or a database, and the store
// without a broker or a plugin process (an applier-over-a-full-disk test
// lives in hub/pipeline for that reason). Linking them is what made
// `go test ./hub/identity ./mapping` build the whole application.
var (
	broker   = []string{"github.com/segmentio/kafka-go", "github.com/twmb/franz-go/pkg/kfake"}
	plugins  = []string{"google.golang.org/grpc", "github.com/hashicorp/go-plugin"}
	database = []string{"github.com/jackc/pgx/v5", "modernc.org/sqlite"}

	testDepsForbidden = map[string][][]string{
		"hub/identity": {broker, plugins, database},
		"hub/value":    {broker, plugins, database},
		"mapping":      {broker, plugins, database},
		"hub/store":    {broker, plugins},
	}
)

func TestTestsLinkOnlyTheirTechnology(t *testing.T) {
	for pkg, groups := range testDepsForbidden {
		cmd := exec.Command("go", "list", "-deps", "-test", "./"+pkg)
		cmd.Dir = filepath.Join("..", "..")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps -test ./%s: %v\n%s", pkg, err, stderr.String())
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		for _, g := range groups {
			for _, f := range g {
				if deps[f] {
					t.Errorf("the tests of %s link %s", pkg, f)
				}
			}
		}
	}
}
