package mapping

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

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
