package sdktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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

// memory is a minimal destination keeping records by ID; a record
// without ID is created under an ID derived from its payload, so a retried
// create finds it again. bug, when set, breaks one rule the suite checks.
type memory struct {
	sdk.UnimplementedDestination
	rows map[string]map[string]string
	seq  int
	// bug breaks a rule: "short": one result short; "recreate": a retried
	// create makes another; "stale": an update of a row is dropped;
	// "batch": a bad record fails the batch
	bug string
}

func (m *memory) Configure(context.Context, sdk.Config) error { return nil }
func (m *memory) Open(context.Context) error                  { return nil }
func (m *memory) Write(_ context.Context, recs []sdk.Record) ([]sdk.WriteResult, error) {
	res := make([]sdk.WriteResult, 0, len(recs))
	for _, r := range recs {
		if r.Op == sdk.OpDelete {
			delete(m.rows, r.ID)
			res = append(res, sdk.WriteResult{ID: r.ID})
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(r.Payload, &fields); err != nil || fields == nil {
			if m.bug == "batch" {
				return nil, errors.New("payload is not an object")
			}
			res = append(res, sdk.WriteResult{ID: r.ID, Error: "payload is not an object"})
			continue
		}
		id := r.ID
		if id == "" {
			m.seq++
			id = "new-" + string(r.Payload)
			if m.bug == "recreate" {
				id = "new-" + strconv.Itoa(m.seq)
			}
		}
		if m.rows[id] == nil {
			m.rows[id] = map[string]string{}
		} else if m.bug == "stale" {
			res = append(res, sdk.WriteResult{ID: id})
			continue
		}
		for k, v := range fields {
			m.rows[id][k] = fmt.Sprint(v)
		}
		res = append(res, sdk.WriteResult{ID: id})
	}
	if m.bug == "short" && len(res) > 1 {
		res = res[:len(res)-1]
	}
	return res, nil
}

// sink is a connector whose destinations all write into rows.
func sink(rows map[string]map[string]string, bug string) sdk.Connector {
	return sdk.Connector{
		Spec:           sdk.Spec{Name: "memory", Summary: "Keeps records.", Kinds: []sdk.Kind{sdk.KindDestination}},
		NewDestination: func() sdk.Destination { return &memory{rows: rows, bug: bug} },
	}
}

var written = []sdk.Record{
	{Entity: "customers", ID: "1", Op: sdk.OpUpsert, Payload: []byte(`{"name":"A"}`)},
	{Entity: "customers", Op: sdk.OpUpsert, Payload: []byte(`{"name":"B"}`)}, // a create
}

// destOptions run every sub-test against the memory sink, each on fresh
// rows.
func destOptions(rows *map[string]map[string]string) sdktest.DestinationOptions {
	return sdktest.DestinationOptions{
		Records: written,
		Prepare: func(t *testing.T, cfg sdk.Config) sdk.Config { clear(*rows); return cfg },
		Target: func(t *testing.T, _ sdk.Config) map[string]map[string]string {
			out := map[string]map[string]string{}
			for id, f := range *rows {
				out[id] = maps.Clone(f)
			}
			return out
		},
		Update: func(r sdk.Record) sdk.Record {
			var f map[string]string
			_ = json.Unmarshal(r.Payload, &f)
			r.Payload, _ = json.Marshal(map[string]string{"name": f["name"] + "2"})
			return r
		},
		Deletes: true,
		Bad:     []sdk.Record{{Entity: "customers", ID: "9", Op: sdk.OpUpsert, Payload: []byte(`[1]`)}},
	}
}

func TestAcceptDestinationPassesACorrectDestination(t *testing.T) {
	rows := map[string]map[string]string{}
	opts := destOptions(&rows)
	var checked bool
	opts.Check = func(t *testing.T, _ sdk.Config, res []sdk.WriteResult) {
		checked = true
		if len(rows) != 2 || res[1].ID != `new-{"name":"B"}` {
			t.Errorf("destination holds %v, results %v; want the 2 written", rows, res)
		}
	}
	sdktest.AcceptDestination(t, sink(rows, ""), sdk.Config{}, opts)
	if !checked {
		t.Error("Check was not called")
	}
}

// TestHelperBrokenDestination runs the suite on a destination with the bug
// SDKTEST_HELPER names; TestAcceptDestinationCatchesBugs expects it to fail.
func TestHelperBrokenDestination(t *testing.T) {
	bug := os.Getenv("SDKTEST_HELPER")
	if bug == "" {
		t.Skip("run by TestAcceptDestinationCatchesBugs")
	}
	rows := map[string]map[string]string{}
	sdktest.AcceptDestination(t, sink(rows, bug), sdk.Config{}, destOptions(&rows))
}

func TestAcceptDestinationCatchesBugs(t *testing.T) {
	for bug, want := range map[string]string{
		"short":    "want one per record",
		"recreate": "a retried create must not create again",
		"batch":    "failed as a whole",
		"stale":    `after the update: record "1" field name is "A", want "A2"`,
	} {
		t.Run(bug, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBrokenDestination$")
			cmd.Env = append(os.Environ(), "SDKTEST_HELPER="+bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a destination with bug %q:\n%s", bug, out)
			}
			if !strings.Contains(string(out), want) {
				t.Fatalf("the suite failed for another reason than %q:\n%s", want, out)
			}
		})
	}
}
