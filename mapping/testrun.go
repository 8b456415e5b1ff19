package mapping

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/builtin"
)

// TestOptions drive RunTest, the engine behind `crmhub mapping test`.
type TestOptions struct {
	// IDField names the source field holding the record id; default "id"
	// when the records have one, else the line number.
	IDField string
	// Expect is an expected JSONL file to compare with; Update writes it.
	Expect string
	Update bool
	// Progress, when set, is called every few hundred records.
	Progress func(done, total int)
}

// TestReport is the outcome of a mapping test run.
type TestReport struct {
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

// ReadInputs reads sample records from a .csv (header row, delimiter , ; or
// tab detected, empty cells left out) or a .jsonl file (one JSON object per
// line: the source record itself, or {"source_id", "updated_at", "op",
// "payload": {...}} to set the record's metadata).
func ReadInputs(path, system, entity, idField string) ([]Input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	var recs []map[string]any
	var metas []Input
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv", ".tsv", ".txt":
		recs, err = readCSV(f)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", path, err)
		}
		metas = make([]Input, len(recs))
	default:
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		line := 0
		for sc.Scan() {
			line++
			b := bytes.TrimSpace(sc.Bytes())
			if len(b) == 0 || b[0] == '#' {
				continue
			}
			v, err := decodeJSON(b)
			obj, ok := v.(map[string]any)
			if err != nil || !ok {
				return nil, fmt.Errorf("input %s:%d: not a JSON object", path, line)
			}
			var meta Input
			if p, ok := obj["payload"].(map[string]any); ok {
				meta.SourceID, _ = obj["source_id"].(string)
				meta.Op, _ = obj["op"].(string)
				if u, ok := obj["updated_at"].(string); ok {
					if meta.UpdatedAt, err = time.Parse(time.RFC3339Nano, u); err != nil {
						return nil, fmt.Errorf("input %s:%d: updated_at: %w", path, line, err)
					}
				}
				obj = p
			}
			recs = append(recs, obj)
			metas = append(metas, meta)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read input %s: %w", path, err)
		}
	}
	out := make([]Input, len(recs))
	for i, r := range recs {
		in := metas[i]
		in.System, in.Entity = system, entity
		if in.SourceID == "" {
			in.SourceID = recordID(r, idField, strings.TrimSuffix(entity, "s")+"_id", i+1)
		}
		if in.Payload, err = json.Marshal(r); err != nil {
			return nil, fmt.Errorf("input %s record %d: %w", path, i+1, err)
		}
		out[i] = in
	}
	return out, nil
}

func recordID(r map[string]any, idField, entityID string, n int) string {
	for _, k := range []string{idField, "id", "ID", "Id", entityID} {
		if k == "" {
			continue
		}
		if s, ok, _ := text(r[k]); ok && s != "" {
			return s
		}
	}
	return "line " + strconv.Itoa(n)
}

func readCSV(r io.Reader) ([]map[string]any, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(4096)
	first, _, _ := bytes.Cut(head, []byte("\n"))
	delim, best := ',', 0
	for _, d := range []rune{',', ';', '\t', '|'} {
		if n := bytes.Count(first, []byte(string(d))); n > best {
			delim, best = d, n
		}
	}
	cr := csv.NewReader(br)
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	for i, h := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
	}
	var out []map[string]any
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(row) > len(header) {
			line, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("line %d: %d cells but %d columns", line, len(row), len(header))
		}
		rec := make(map[string]any, len(row))
		for i, c := range row {
			if strings.TrimSpace(c) != "" {
				rec[header[i]] = c
			}
		}
		out = append(out, rec)
	}
}

// Result renders one Apply outcome as a line of expected.jsonl.
func Result(in Input, out Output, err error) json.RawMessage {
	l := testLine{SourceID: in.SourceID}
	var re *RecordError
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
	b, _ := marshal(l)
	return b
}

// RunTest runs m on the records of inputPath and compares the results with
// opts.Expect (or writes it with opts.Update).
func RunTest(ctx context.Context, m *Mapping, inputPath string, opts TestOptions) (*TestReport, error) {
	inputs, err := ReadInputs(inputPath, m.system, m.entity, opts.IDField)
	if err != nil {
		return nil, err
	}
	rep := &TestReport{Results: make([]json.RawMessage, 0, len(inputs))}
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
	for name := range m.used {
		if !seen[name] && registry[name] == nil && !builtinNames[name] && name != "record" && name != "meta" && !isBuiltinConst(name) {
			rep.Unread = append(rep.Unread, name)
		}
	}
	sort.Strings(rep.Unread)
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

func isBuiltinConst(name string) bool {
	_, ok := builtin.Index[name]
	return ok || name == "true" || name == "false" || name == "nil"
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
