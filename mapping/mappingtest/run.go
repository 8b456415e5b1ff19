package mappingtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/mapping/internal/jsonfast"
)

// Options drive Run, the engine behind `crmhub mapping test`.
type Options struct {
	// IDField names the source field holding the record id; default "id"
	// when the records have one, else the line number.
	IDField string
	// Expect is an expected JSONL file to compare with; Update writes it.
	Expect string
	Update bool
	// Progress, when set, is called every few hundred records.
	Progress func(done, total int)
}

// Report is the outcome of a mapping test run.
type Report struct {
	Results    []json.RawMessage // one line per input record, the format of expected.jsonl
	Mismatches []Mismatch
	Mapped     int
	Skipped    int
	Deleted    int
	Failed     int // mapping or validation errors
	// Dropped counts the values left out with a warning, by "field: reason"
	// (the labels crmhub_mapping_values_dropped_total would count).
	Dropped map[string]int
	// Unread are the source fields the mapping reads that no input record
	// has: usually a typo, or a literal written without quotes.
	Unread []string
}

// Mismatch is a result that differs from the expected file.
type Mismatch struct {
	Line      int
	SourceID  string
	Want, Got string
}

// testLine is one line of expected.jsonl.
type testLine struct {
	SourceID string          `json:"source_id"`
	Op       string          `json:"op,omitempty"`
	Skip     bool            `json:"skip,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	Error    *testError      `json:"error,omitempty"`
}

type testError struct {
	Field       string `json:"field"`
	ReasonClass string `json:"reason_class"`
	Reason      string `json:"reason"`
}

// Result renders one Apply outcome as a line of expected.jsonl.
func Result(in mapping.Input, out mapping.Output, err error) json.RawMessage {
	l := testLine{SourceID: in.SourceID}
	var re *mapping.RecordError
	switch {
	case errors.As(err, &re):
		l.Error = &testError{Field: re.Field, ReasonClass: re.ReasonClass, Reason: re.Reason}
	case err != nil:
		l.Error = &testError{ReasonClass: "error", Reason: err.Error()}
	case out.Skip:
		l.Skip = true
	default:
		l.Op, l.Data, l.Warnings = out.Op, out.Data, out.Warnings
	}
	// jsonfast: the encoding the pipeline writes records with.
	b, _ := jsonfast.Marshal(l)
	return b
}

// Run runs m on the records of inputPath (read by mapping.ReadInputs) and
// compares the results with opts.Expect (or writes it with opts.Update).
func Run(ctx context.Context, m *mapping.Mapping, inputPath string, opts Options) (*Report, error) {
	system, entity := m.Source()
	inputs, err := mapping.ReadInputs(inputPath, system, entity, opts.IDField)
	if err != nil {
		return nil, err
	}
	rep := &Report{Results: make([]json.RawMessage, 0, len(inputs))}
	seen := map[string]bool{}
	for i, in := range inputs {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if opts.Progress != nil {
				opts.Progress(i, len(inputs))
			}
		}
		var rec map[string]any
		_ = json.Unmarshal(in.Payload, &rec)
		for k := range rec {
			seen[k] = true
		}
		out, err := m.Apply(in)
		for _, d := range out.Dropped {
			if rep.Dropped == nil {
				rep.Dropped = map[string]int{}
			}
			rep.Dropped[d.Field+": "+d.Reason]++
		}
		switch {
		case err != nil:
			rep.Failed++
		case out.Skip:
			rep.Skipped++
		case out.Op == "delete":
			rep.Deleted++
		default:
			rep.Mapped++
		}
		rep.Results = append(rep.Results, Result(in, out, err))
	}
	if opts.Progress != nil {
		opts.Progress(len(inputs), len(inputs))
	}
	for _, name := range m.Reads() {
		if !seen[name] {
			rep.Unread = append(rep.Unread, name)
		}
	}
	if opts.Expect == "" {
		return rep, nil
	}
	if opts.Update {
		var buf bytes.Buffer
		for _, r := range rep.Results {
			buf.Write(r)
			buf.WriteByte('\n')
		}
		if err := os.WriteFile(opts.Expect, buf.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("write expected: %w", err)
		}
		return rep, nil
	}
	want, err := readExpected(opts.Expect)
	if err != nil {
		return nil, err
	}
	for i := 0; i < max(len(want), len(rep.Results)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(rep.Results) {
			g = canonicalJSON(rep.Results[i])
		}
		if w != g {
			id := ""
			if i < len(inputs) {
				id = inputs[i].SourceID
			}
			rep.Mismatches = append(rep.Mismatches, Mismatch{Line: i + 1, SourceID: id, Want: w, Got: g})
		}
	}
	return rep, nil
}

func readExpected(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read expected: %w", err)
	}
	var out []string
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		c := canonicalJSON(line)
		if c == "" {
			return nil, fmt.Errorf("expected %s:%d: not JSON", path, i+1)
		}
		out = append(out, c)
	}
	return out, nil
}

// canonicalJSON re-encodes so that key order and spacing do not matter.
func canonicalJSON(b []byte) string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return ""
	}
	c, _ := json.Marshal(v)
	return string(c)
}
