package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/crmhub/crmhub/hub/quality"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/mapping/suggest"
)

// personFlags are bench quality's flags for any delimited person file
// pair with a ground-truth column (--truth); without --truth the input
// files are read in FEBRL's layout.
type personFlags struct {
	truth, id, delimiter string
	columns, mappingFile string
	drop                 []string
	region, encoding     string
}

func (p personFlags) set() bool { return p.truth != "" }

// delimiterRune reads --delimiter: one character, or "tab"/"\t".
func (p personFlags) delimiterRune() (rune, error) {
	switch p.delimiter {
	case "":
		return 0, nil
	case "tab", `\t`, "\t":
		return '\t', nil
	}
	r := []rune(p.delimiter)
	if len(r) != 1 {
		return 0, fmt.Errorf("bench quality: --delimiter %q: want one character or tab", p.delimiter)
	}
	return r[0], nil
}

// personMapping is the mapping the rows go through, and where it came
// from: --mapping (the user's own YAML), --columns (a YAML written from
// the column map) or, with neither, what `crmhub mapping suggest`
// proposes from the first file's rows (the truth and id columns left out
// of its sample, so the answer key never becomes evidence).
func (p personFlags) personMapping(first string, delim rune) (*mapping.Mapping, string, []byte, error) {
	switch {
	case p.mappingFile != "" && p.columns != "":
		return nil, "", nil, fmt.Errorf("bench quality: give --mapping or --columns, not both")
	case p.mappingFile != "":
		m, err := mapping.LoadFile(p.mappingFile)
		if err != nil {
			return nil, "", nil, fmt.Errorf("bench quality: %w", err)
		}
		return m, "mapping " + p.mappingFile, nil, nil
	}
	sample, err := sampleRows(first, p.encoding, delim, 500, p.truth, p.id)
	if err != nil {
		return nil, "", nil, err
	}
	if p.columns != "" {
		y, err := quality.ColumnsMapping(p.columns, p.region, func(col string) []string {
			var vs []string
			for _, row := range sample {
				if v, ok := row[col]; ok && v != nil {
					vs = append(vs, fmt.Sprint(v))
				}
			}
			return vs
		})
		if err != nil {
			return nil, "", nil, fmt.Errorf("bench quality: %w", err)
		}
		m, err := mapping.Parse("--columns", y)
		if err != nil {
			return nil, "", nil, fmt.Errorf("bench quality: the mapping written from --columns: %w", err)
		}
		return m, "mapping from --columns", y, nil
	}
	y, _, err := suggest.Mapping(sample, suggest.Options{Target: "customer", System: "file", Entity: "person", Input: first})
	if err != nil {
		return nil, "", nil, fmt.Errorf("bench quality: suggest a mapping: %w", err)
	}
	m, err := mapping.Parse("suggested", y)
	if err != nil {
		return nil, "", nil, fmt.Errorf("bench quality: the suggested mapping does not load (give --columns or --mapping): %w", err)
	}
	return m, "mapping suggested from the columns (crmhub mapping suggest)", y, nil
}

// sampleRows reads up to n rows of a delimited file as suggest takes
// them, without the columns in skip.
func sampleRows(path, encoding string, delim rune, n int, skip ...string) ([]map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench quality: %w", err)
	}
	if data, err = quality.Decode(data, encoding); err != nil {
		return nil, fmt.Errorf("bench quality: %s: %w", path, err)
	}
	if delim == 0 {
		if delim, err = quality.SniffDelimiter(data); err != nil {
			return nil, fmt.Errorf("bench quality: %s: %w", path, err)
		}
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma, cr.TrimLeadingSpace = delim, delim != '\t'
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("bench quality: %s header: %w", path, err)
	}
	var out []map[string]any
	for len(out) < n {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("bench quality: %s: %w", path, err)
		}
		rec := map[string]any{}
		for i, v := range row {
			if h := strings.TrimSpace(head[i]); !slices.Contains(skip, h) {
				rec[h] = v
			}
		}
		out = append(out, rec)
	}
	return out, nil
}

// runPersons scores the resolver on one delimited file (deduplicated) or
// two (two systems linked), mapped as the flags say.
func runPersons(out io.Writer, f febrlFlags, p personFlags) error {
	if f.inputA == "" {
		return fmt.Errorf("bench quality: --truth needs --input-a (and optionally --input-b)")
	}
	delim, err := p.delimiterRune()
	if err != nil {
		return err
	}
	m, from, y, err := p.personMapping(f.inputA, delim)
	if err != nil {
		return err
	}
	drop := slices.Clone(p.drop)
	if f.withoutID {
		drop = append(drop, "identifiers")
	}
	files := []string{f.inputA}
	name := "one system"
	if f.inputB != "" {
		files, name = append(files, f.inputB), "two systems"
	}
	var recs []quality.Record
	for i, path := range files {
		rs, st, err := quality.ReadDelimitedFile(path, quality.DelimitedOptions{System: string(rune('a' + i)), Truth: p.truth,
			ID: p.id, Delimiter: delim, Mapping: m, Drop: drop, Encoding: p.encoding})
		if err != nil {
			return fmt.Errorf("bench quality: %w", err)
		}
		fmt.Fprintf(out, "file %s: %d rows, %d records", path, st.Rows, len(rs))
		if st.Skipped > 0 || st.DeadLettered > 0 {
			fmt.Fprintf(out, ", %d skipped by drop_if, %d dead-lettered (first: %s)", st.Skipped, st.DeadLettered, st.FirstError)
		}
		fmt.Fprintln(out)
		warns := make([]string, 0, len(st.Warnings))
		for w := range st.Warnings {
			warns = append(warns, w)
		}
		sort.Strings(warns)
		for _, w := range warns {
			fmt.Fprintf(out, "  values left out: %s (%d)\n", w, st.Warnings[w])
		}
		recs = append(recs, rs...)
	}
	quality.MarkCopies(recs)
	fmt.Fprintf(out, "%s", from)
	if len(drop) > 0 {
		fmt.Fprintf(out, ", dropped: %s", strings.Join(drop, ", "))
	}
	fmt.Fprintln(out)
	if y != nil && (f.sample > 0 || p.mappingFile == "" && p.columns == "") {
		for _, l := range strings.Split(strings.TrimRight(string(y), "\n"), "\n") {
			fmt.Fprintf(out, "  | %s\n", l)
		}
	}
	// Without --region the resolver keeps its own default region for
	// phone numbers written without a country code.
	return scoreSet(out, f, "persons", name, "", strings.ToUpper(p.region), recs)
}
