package quality

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/internal/textenc"
	"github.com/crmhub/crmhub/mapping"
)

// Any delimited person file with a ground-truth column can be scored: the
// rows become canonical customers through a mapping in the product's own
// language (the same YAML a user writes for a source), so the figure is
// what that user's pipeline would give, not what a reader tuned for one
// file would.

// ErrDelimited is returned for a file the reader cannot use as it stands.
var ErrDelimited = errors.New("not a usable delimited person file")

// DelimitedOptions say how the rows of a delimited file become records.
type DelimitedOptions struct {
	// System is the source system the records are said to come from
	// (record keys are system/person/id). Default "file".
	System string
	// Truth is the column whose equal values are one person. A row with
	// an empty truth value is a person of its own.
	Truth string
	// ID is the column holding the record's id; "" numbers the rows
	// (row-2 is the first row under the header, as an editor shows it).
	ID string
	// Delimiter separates the fields; 0 sniffs ',', ';', tab or '|' from
	// the header line.
	Delimiter rune
	// Mapping turns a row (every column as a string) into the canonical
	// customer. Its source system and entity are not checked: the file is
	// the source.
	Mapping *mapping.Mapping
	// Drop lists canonical attributes removed after mapping (see Drop),
	// to measure the same people with less evidence.
	Drop []string
	// Encoding is the file's character set: "" or a name the file
	// connector takes (internal/textenc: utf-8, windows-1252, iso-8859-1,
	// gb18030, ...). A file that is not UTF-8 without
	// one is an error, not names garbled in silence.
	Encoding string
}

// DelimitedStats count the rows that did not become records, as the
// pipeline would: skipped on purpose (drop_if) or dead-lettered (a
// mapping or validation error). Such rows are left out of the truth too.
type DelimitedStats struct {
	Rows, Skipped, DeadLettered int
	// FirstError is the first dead-letter reason (field and class, no
	// values), so a broken mapping is seen at once.
	FirstError string
	// Warnings counts the values a cleaner could not read, by reason
	// ("phones[]: phone: not a valid number for the region").
	Warnings map[string]int
}

// ReadDelimited reads a delimited file with a header line (name is for
// errors) into records with their ground truth.
func ReadDelimited(r io.Reader, name string, opt DelimitedOptions) ([]Record, DelimitedStats, error) {
	st := DelimitedStats{Warnings: map[string]int{}}
	if opt.Mapping == nil {
		return nil, st, fmt.Errorf("read %s: no mapping", name)
	}
	if err := checkDrop(opt.Drop); err != nil {
		return nil, st, fmt.Errorf("read %s: %w", name, err)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, st, fmt.Errorf("read %s: %w", name, err)
	}
	if data, err = Decode(data, opt.Encoding); err != nil {
		return nil, st, fmt.Errorf("read %s: %w", name, err)
	}
	delim := opt.Delimiter
	if delim == 0 {
		if delim, err = SniffDelimiter(data); err != nil {
			return nil, st, fmt.Errorf("read %s: %w", name, err)
		}
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = delim
	// "a, b" is common in hand-written and FEBRL-style files; with a tab
	// as delimiter, trimming would swallow empty fields.
	cr.TrimLeadingSpace = delim != '\t'
	head, err := cr.Read()
	if err != nil {
		return nil, st, fmt.Errorf("read %s header: %w", name, err)
	}
	for i := range head {
		head[i] = strings.TrimSpace(head[i])
		if slices.Contains(head[:i], head[i]) {
			// A row is a map from column to value: the second column of
			// a name would hide the first.
			return nil, st, fmt.Errorf("read %s header: column %q appears twice: %w", name, head[i], ErrDelimited)
		}
	}
	col := func(what, c string) (int, error) {
		if c == "" {
			return -1, nil
		}
		if i := slices.Index(head, c); i >= 0 {
			return i, nil
		}
		return -1, fmt.Errorf("read %s: %s column %q is not in the header (%s): %w", name, what, c, strings.Join(head, ", "), ErrDelimited)
	}
	if opt.Truth == "" {
		return nil, st, fmt.Errorf("read %s: no truth column given: %w", name, ErrDelimited)
	}
	truthCol, err := col("truth", opt.Truth)
	if err != nil {
		return nil, st, err
	}
	idCol, err := col("id", opt.ID)
	if err != nil {
		return nil, st, err
	}
	system := opt.System
	if system == "" {
		system = "file"
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []Record
	seen := map[string]bool{}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, st, fmt.Errorf("read %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		st.Rows++
		id := "row-" + strconv.Itoa(line)
		if idCol >= 0 {
			if id = strings.TrimSpace(row[idCol]); id == "" {
				return nil, st, fmt.Errorf("read %s line %d: empty id in column %q: %w", name, line, opt.ID, ErrDelimited)
			}
		}
		if seen[id] {
			return nil, st, fmt.Errorf("read %s line %d: id %q appears twice (column %q): %w", name, line, id, opt.ID, ErrDelimited)
		}
		seen[id] = true
		payload := make(map[string]string, len(head))
		for i, v := range row {
			payload[head[i]] = v
		}
		js, err := json.Marshal(payload)
		if err != nil {
			return nil, st, fmt.Errorf("read %s line %d: %w", name, line, err)
		}
		res, err := opt.Mapping.Apply(mapping.Input{System: system, Entity: "person", SourceID: id,
			UpdatedAt: t0.Add(time.Duration(st.Rows) * time.Second), Payload: js})
		for _, w := range res.Warnings {
			st.Warnings[w]++
		}
		if err != nil {
			var re *mapping.RecordError
			if !errors.As(err, &re) {
				return nil, st, fmt.Errorf("read %s line %d: %w", name, line, err)
			}
			st.DeadLettered++
			if st.FirstError == "" {
				st.FirstError = fmt.Sprintf("line %d: %s: %s", line, re.Field, re.Reason)
			}
			continue
		}
		if res.Skip || res.Op == hub.OpDelete {
			st.Skipped++
			continue
		}
		if res.Entity != "customer" {
			return nil, st, fmt.Errorf("read %s: the mapping's target is %q, want customer: %w", name, res.Entity, ErrDelimited)
		}
		var c hub.Customer
		if err := json.Unmarshal(res.Data, &c); err != nil {
			return nil, st, fmt.Errorf("read %s line %d: mapped customer: %w", name, line, err)
		}
		Drop(&c, opt.Drop)
		entity := strings.TrimSpace(row[truthCol])
		if entity == "" {
			entity = "\x00row:" + system + "/" + id // nobody else's
		}
		out = append(out, Record{Key: system + "/person/" + id, EntityID: entity, Customer: c})
	}
	markCopies(out)
	return out, st, nil
}

// ReadDelimitedFile is ReadDelimited of a file.
func ReadDelimitedFile(path string, opt DelimitedOptions) ([]Record, DelimitedStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, DelimitedStats{}, fmt.Errorf("open person file: %w", err)
	}
	defer f.Close()
	return ReadDelimited(f, filepath.Base(path), opt)
}

// markCopies marks every record of an entity but its first as a copy
// (Corruption "copy"), so Run's per-kind recall counts records found with
// their entity's first record.
func markCopies(recs []Record) {
	first := map[string]bool{}
	for i := range recs {
		if first[recs[i].EntityID] {
			recs[i].Corruption = "copy"
		}
		first[recs[i].EntityID] = true
	}
}

// MarkCopies is markCopies over records read from several files: the
// first record of an entity across all of them is its original.
func MarkCopies(recs []Record) {
	for i := range recs {
		recs[i].Corruption = ""
	}
	markCopies(recs)
}

// Decode returns a file's bytes as UTF-8 without a byte order mark,
// decoded from the named encoding ("" for UTF-8, which is checked).
func Decode(data []byte, encodingName string) ([]byte, error) {
	enc, ok := textenc.Lookup(encodingName)
	if !ok && encodingName != "" {
		return nil, fmt.Errorf("unknown encoding %q (%s)", encodingName, strings.Join(textenc.Names(), ", "))
	}
	if enc != nil {
		out, err := enc.NewDecoder().Bytes(data)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", encodingName, err)
		}
		data = out
	} else if !utf8.Valid(data) {
		return nil, fmt.Errorf("not UTF-8: give the encoding (windows-1252, iso-8859-1, ...): %w", ErrDelimited)
	}
	return bytes.TrimPrefix(data, []byte("\ufeff")), nil // a BOM is not part of the first column's name
}

// SniffDelimiter tells the delimiter of a file from its header line: the
// one of ',', ';', tab and '|' that occurs most often outside quotes.
func SniffDelimiter(data []byte) (rune, error) {
	line := data
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	counts := map[rune]int{}
	quoted := false
	for _, b := range string(line) {
		switch {
		case b == '"':
			quoted = !quoted
		case !quoted && (b == ',' || b == ';' || b == '\t' || b == '|'):
			counts[b]++
		}
	}
	best, n := rune(0), 0
	for _, d := range []rune{',', ';', '\t', '|'} { // a tie goes to the earlier, more common one
		if counts[d] > n {
			best, n = d, counts[d]
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("the header line holds none of , ; tab |: give the delimiter: %w", ErrDelimited)
	}
	return best, nil
}

// dropNames are the canonical attributes Drop removes, by the names a
// user gives them.
var dropNames = map[string]func(c *hub.Customer){
	"email":       func(c *hub.Customer) { c.Emails = nil },
	"phone":       func(c *hub.Customer) { c.Phones = nil },
	"birth_date":  func(c *hub.Customer) { c.BirthDate = "" },
	"gender":      func(c *hub.Customer) { c.Gender = "" },
	"identifiers": func(c *hub.Customer) { c.Identifiers = nil },
	"address":     func(c *hub.Customer) { c.Addresses = nil },
	"given_name":  func(c *hub.Customer) { c.GivenName = "" },
	"family_name": func(c *hub.Customer) { c.FamilyName = "" },
	"full_name":   func(c *hub.Customer) { c.FullName = "" },
	"tax_id":      func(c *hub.Customer) { c.TaxID = "" },
}

// dropAlias are other names of the attributes above.
var dropAlias = map[string]string{"emails": "email", "phones": "phone", "id": "identifiers", "identifier": "identifiers",
	"addresses": "address", "birthdate": "birth_date", "dob": "birth_date"}

func checkDrop(names []string) error {
	for _, n := range names {
		if a, ok := dropAlias[n]; ok {
			n = a
		}
		if dropNames[n] == nil {
			known := make([]string, 0, len(dropNames))
			for k := range dropNames {
				known = append(known, k)
			}
			slices.Sort(known)
			return fmt.Errorf("drop: unknown attribute %q (known: %s)", n, strings.Join(known, ", "))
		}
	}
	return nil
}

// Drop removes the named canonical attributes (email, phone, birth_date,
// gender, identifiers, address, given_name, family_name, full_name,
// tax_id; unknown names are left to checkDrop).
func Drop(c *hub.Customer, names []string) {
	for _, n := range names {
		if a, ok := dropAlias[n]; ok {
			n = a
		}
		if f := dropNames[n]; f != nil {
			f(c)
		}
	}
}
