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

// memory is a minimal destination keeping what it was given; drop, a bug,
// answers one result short.
type memory struct {
	sdk.UnimplementedDestination
	got  *[]sdk.Record
	drop bool
}

func (m *memory) Configure(context.Context, sdk.Config) error { return nil }
func (m *memory) Open(context.Context) error                  { return nil }
func (m *memory) Write(_ context.Context, recs []sdk.Record) ([]sdk.WriteResult, error) {
	res := make([]sdk.WriteResult, 0, len(recs))
	for _, r := range recs {
		*m.got = append(*m.got, r)
		res = append(res, sdk.WriteResult{ID: r.ID})
	}
	if m.drop && len(res) > 1 {
		res = res[:len(res)-1]
	}
	return res, nil
}

func sink(got *[]sdk.Record, drop bool) sdk.Connector {
	return sdk.Connector{
		Spec:           sdk.Spec{Name: "memory", Summary: "Keeps records.", Kinds: []sdk.Kind{sdk.KindDestination}},
		NewDestination: func() sdk.Destination { return &memory{got: got, drop: drop} },
	}
}

var written = []sdk.Record{
	{Entity: "customers", ID: "1", Op: sdk.OpUpsert, Payload: []byte(`{"name":"A"}`)},
	{Entity: "customers", ID: "2", Op: sdk.OpUpsert, Payload: []byte(`{"name":"B"}`)},
}

func TestAcceptDestinationPassesACorrectDestination(t *testing.T) {
	var got []sdk.Record
	sdktest.AcceptDestination(t, sink(&got, false), sdk.Config{}, sdktest.DestinationOptions{Records: written,
		Check: func(t *testing.T, _ sdk.Config, _ []sdk.WriteResult) {
			if len(got) != 2 || got[1].ID != "2" {
				t.Errorf("destination holds %d records, want the 2 written", len(got))
			}
		}})
}

// TestHelperShortDestination runs the suite on a destination that answers
// one result short; TestAcceptDestinationCatchesAShortAnswer expects it to
// fail.
func TestHelperShortDestination(t *testing.T) {
	if os.Getenv("SDKTEST_HELPER") == "" {
		t.Skip("run by TestAcceptDestinationCatchesAShortAnswer")
	}
	var got []sdk.Record
	sdktest.AcceptDestination(t, sink(&got, true), sdk.Config{}, sdktest.DestinationOptions{Records: written})
}

func TestAcceptDestinationCatchesAShortAnswer(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperShortDestination$")
	cmd.Env = append(os.Environ(), "SDKTEST_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a destination that answers one result short:\n%s", out)
	}
	if !strings.Contains(string(out), "want one per record") {
		t.Fatalf("the suite failed for another reason:\n%s", out)
	}
}
