package sdktest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
	"github.com/crmhub/crmhub/plugins/sdk/sdktest"
)

// slice is a minimal correct source over n fixed records.
type slice struct {
	sdk.UnimplementedSource
	n, next int
	skip    bool // a bug: Open skips one record too many
}

func (s *slice) Configure(_ context.Context, cfg sdk.Config) error {
	s.n = cfg["n"].(int)
	return nil
}

func (s *slice) Open(_ context.Context, pos sdk.Position) error {
	if len(pos) > 0 {
		n, err := strconv.Atoi(string(pos))
		if err != nil {
			return err
		}
		s.next = n
		if s.skip {
			s.next++
		}
	}
	return nil
}

func (s *slice) Read(_ context.Context, max int) ([]sdk.Record, error) {
	var out []sdk.Record
	for ; len(out) < max && s.next < s.n; s.next++ {
		out = append(out, sdk.Record{
			Entity: "customers", ID: strconv.Itoa(s.next), Op: sdk.OpUpsert,
			Payload: []byte(fmt.Sprintf(`{"n":%d}`, s.next)), Position: sdk.Position(strconv.Itoa(s.next + 1)),
		})
	}
	return out, nil
}

func conn(skip bool) sdk.Connector {
	return sdk.Connector{
		Spec: sdk.Spec{Name: "slice", Summary: "Fixed records.", Kinds: []sdk.Kind{sdk.KindSource},
			Params: []sdk.Param{{Name: "n", Type: sdk.TypeInt, Default: "10", Description: "How many."}}},
		NewSource: func() sdk.Source { return &slice{skip: skip} },
	}
}

func TestAcceptSourcePassesACorrectSource(t *testing.T) {
	sdktest.AcceptSource(t, conn(false), sdk.Config{"n": 10}, sdktest.Options{})
}

// TestHelperBuggySource runs the suite on a source whose Open skips a
// record; TestAcceptSourceCatchesASkippingSource expects it to fail.
func TestHelperBuggySource(t *testing.T) {
	if os.Getenv("SDKTEST_HELPER") == "" {
		t.Skip("run by TestAcceptSourceCatchesASkippingSource")
	}
	sdktest.AcceptSource(t, conn(true), sdk.Config{"n": 10}, sdktest.Options{})
}

func TestAcceptSourceCatchesASkippingSource(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBuggySource$")
	cmd.Env = append(os.Environ(), "SDKTEST_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a source that skips records:\n%s", out)
	}
	if !strings.Contains(string(out), "ResumeFromPosition") || !strings.Contains(string(out), "want 9") {
		t.Fatalf("the suite failed for another reason:\n%s", out)
	}
}
