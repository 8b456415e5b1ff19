package file

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding"

	"github.com/crmhub/crmhub/internal/textenc"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// DestConfig is the typed form of the "file" parameters of a destination:
// `dir` is the output directory and each item of `files` an export.
type DestConfig struct {
	Dir           string       `json:"dir"`
	ArchiveDir    string       `json:"archive_dir"`
	QuarantineDir string       `json:"quarantine_dir"`
	StableFor     sdk.Duration `json:"stable_for"`
	DoneMarker    bool         `json:"done_marker"`
	Timezone      string       `json:"timezone"`
	Files         []ExportFile `json:"files"`

	// loc decides the local day of `rotate: day` and the run id.
	loc *time.Location
}

// ExportFile is one item of `files` for a destination: a CSV export of an
// entity. The keys it shares with FileConfig are documented there too.
type ExportFile struct {
	Entity    string   `json:"entity"`
	Format    string   `json:"format"`
	Name      string   `json:"name" doc:"Destination: file name prefix (default the entity)."`
	Rotate    string   "json:\"rotate\" doc:\"Destination: `day` (one file per local day, default) or `run` (one file per run).\""
	Encoding  string   `json:"encoding"`
	Delimiter string   `json:"delimiter"`
	Columns   []string `json:"columns" doc:"Destination: the export's columns in header order, also its allow-list: a record with any other field is refused."`
	Key       string   `json:"key" doc:"Destination: the column filled with the record ID when the payload lacks it."`
	OpColumn  string   "json:\"op_column\" doc:\"Destination: extra column holding `upsert` or `delete`; without it deletes are refused.\""

	enc   encoding.Encoding
	delim rune
}

func parseDestConfig(cfg sdk.Config) (DestConfig, error) {
	var c DestConfig
	if err := Connector.Spec.DecodeFor(sdk.KindDestination, cfg, &c); err != nil {
		return c, err
	}
	var errs []error
	var err error
	if c.loc, err = time.LoadLocation(c.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("file: timezone %q: %w", c.Timezone, err))
		c.loc = time.UTC
	}
	if c.ArchiveDir != "" || c.QuarantineDir != "" || c.DoneMarker {
		errs = append(errs, errors.New("file: archive_dir, quarantine_dir and done_marker are source settings, not used by a destination"))
	}
	if len(c.Files) == 0 {
		errs = append(errs, errors.New("file: files: at least one export is required"))
	}
	seen := map[string]bool{}
	for i := range c.Files {
		f := &c.Files[i]
		where := fmt.Sprintf("file: files[%d] (%s)", i, f.Entity)
		if f.Entity == "" {
			errs = append(errs, fmt.Errorf("%s: entity is required", where))
		}
		if seen[f.Entity] {
			errs = append(errs, fmt.Errorf("%s: duplicate entity", where))
		}
		seen[f.Entity] = true
		if f.Format == "" {
			f.Format = "csv"
		}
		if f.Format != "csv" {
			errs = append(errs, fmt.Errorf("%s: format %q: a destination writes csv", where, f.Format))
		}
		if f.Name == "" {
			f.Name = f.Entity
		}
		if f.Name != filepath.Base(f.Name) || strings.HasPrefix(f.Name, ".") {
			errs = append(errs, fmt.Errorf("%s: name %q must be a plain file name prefix", where, f.Name))
		}
		switch f.Rotate {
		case "":
			f.Rotate = "day"
		case "day", "run":
		default:
			errs = append(errs, fmt.Errorf("%s: rotate %q: want day or run", where, f.Rotate))
		}
		if f.Encoding == "" {
			f.Encoding = "utf-8"
		}
		enc, ok := textenc.Lookup(f.Encoding)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: encoding %q: want utf-8, windows-1252, iso-8859-1, gb18030 or shift-jis", where, f.Encoding))
		}
		f.enc = enc
		if f.Delimiter == "" {
			f.Delimiter = ","
		}
		if f.Delimiter == `\t` {
			f.Delimiter = "\t"
		}
		f.delim, _ = utf8.DecodeRuneInString(f.Delimiter)
		if utf8.RuneCountInString(f.Delimiter) != 1 || f.delim == '"' || f.delim == '\r' || f.delim == '\n' {
			errs = append(errs, fmt.Errorf("%s: delimiter %q: want one character other than a quote or line break", where, f.Delimiter))
		}
		if len(f.Columns) == 0 {
			errs = append(errs, fmt.Errorf("%s: a destination needs columns (header order and allow-list)", where))
		}
		if f.Key != "" && !slices.Contains(f.Columns, f.Key) {
			errs = append(errs, fmt.Errorf("%s: key %q is not in columns", where, f.Key))
		}
		if f.OpColumn != "" && slices.Contains(f.Columns, f.OpColumn) {
			errs = append(errs, fmt.Errorf("%s: op_column %q must not be one of columns", where, f.OpColumn))
		}
	}
	return c, errors.Join(errs...)
}

// Destination appends records as CSV rows to one file per entity and day
// (or per run). A file being written is hidden as `.<name>.part`; once
// finished (the day is over, or the run ended) it is synced and renamed to
// its final name, so whoever picks exports up never sees half a file.
// Write is called from one goroutine.
type Destination struct {
	sdk.UnimplementedDestination
	cfg     DestConfig
	log     *slog.Logger
	exports map[string]*export
	// now is the clock; tests move it.
	now   func() time.Time
	runID string
}

var _ sdk.Destination = (*Destination)(nil)

type export struct {
	cfg    ExportFile
	period string // the day or run the open part file belongs to
	part   string
	f      *os.File
	header []string
}

// Configure checks the settings without touching the file system.
func (d *Destination) Configure(_ context.Context, cfg sdk.Config) error {
	c, err := parseDestConfig(cfg)
	if err != nil {
		return err
	}
	d.cfg = c
	d.log = slog.Default().With("connector", "file", "kind", "destination")
	if d.now == nil {
		d.now = time.Now
	}
	return nil
}

const partSuffix = ".part"

// Open creates the directory and finishes part files left by an earlier
// run: per-run files and files of past days are complete (a failed write
// is cut off again), today's per-day file is appended to.
func (d *Destination) Open(context.Context) error {
	if err := os.MkdirAll(d.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("file: output directory %s: %w", d.cfg.Dir, err)
	}
	d.runID = d.now().In(d.cfg.loc).Format("20060102T150405")
	d.exports = map[string]*export{}
	today := d.now().In(d.cfg.loc).Format(time.DateOnly)
	var errs []error
	for _, fc := range d.cfg.Files {
		x := &export{cfg: fc, header: slices.Clone(fc.Columns)}
		if fc.OpColumn != "" {
			x.header = append(x.header, fc.OpColumn)
		}
		d.exports[fc.Entity] = x
		parts, _ := filepath.Glob(filepath.Join(d.cfg.Dir, "."+globEscape(fc.Name)+"_*.csv"+partSuffix))
		for _, p := range parts {
			final := strings.TrimSuffix(filepath.Base(p)[1:], partSuffix)
			if fc.Rotate == "day" && final == fc.Name+"_"+today+".csv" {
				continue
			}
			if err := finishPart(p, filepath.Join(d.cfg.Dir, final)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// globEscape escapes glob metacharacters in a configured name.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Write appends the batch's rows and syncs every touched file before it
// returns, so a nil error means the rows are durable. A record that cannot
// be exported (unknown entity, field outside columns, a delete without
// op_column, a character the encoding lacks) gets its own error; the
// others are written. A file system failure fails the whole batch and cuts
// what was appended of it, so the batch can be retried without duplicates.
func (d *Destination) Write(_ context.Context, records []sdk.Record) ([]sdk.WriteResult, error) {
	if d.exports == nil {
		return nil, errors.New("file: Write before Open")
	}
	res := make([]sdk.WriteResult, len(records))
	rows := map[*export][]byte{}
	var order []*export
	for i, r := range records {
		res[i].ID = r.ID
		x := d.exports[r.Entity]
		if x == nil {
			res[i].Error = fmt.Sprintf("file: entity %s record %s: entity is not configured for export", r.Entity, r.ID)
			continue
		}
		line, err := x.row(r)
		if err != nil {
			res[i].Error = fmt.Sprintf("file: entity %s record %s: %v", r.Entity, r.ID, err)
			continue
		}
		if _, ok := rows[x]; !ok {
			order = append(order, x)
		}
		rows[x] = append(rows[x], line...)
	}
	type undo struct {
		x    *export
		size int64
	}
	var done []undo
	fail := func(err error) ([]sdk.WriteResult, error) {
		for _, u := range done {
			if u.x.f != nil {
				_ = u.x.f.Truncate(u.size)
				_, _ = u.x.f.Seek(u.size, 0)
			}
		}
		return nil, err
	}
	for _, x := range order {
		if err := d.rotate(x); err != nil {
			return fail(err)
		}
		st, err := x.f.Stat()
		if err != nil {
			return fail(fmt.Errorf("file: %s: %w", x.part, err))
		}
		done = append(done, undo{x, st.Size()})
		if _, err := x.f.Write(rows[x]); err != nil {
			return fail(fmt.Errorf("file: append to %s: %w", x.part, err))
		}
		if err := x.f.Sync(); err != nil {
			return fail(fmt.Errorf("file: sync %s: %w", x.part, err))
		}
	}
	return res, nil
}

// row renders one record as an encoded CSV line in header order.
func (x *export) row(r sdk.Record) ([]byte, error) {
	var obj map[string]json.RawMessage
	if len(bytes.TrimSpace(r.Payload)) > 0 || r.Op != sdk.OpDelete {
		if err := json.Unmarshal(r.Payload, &obj); err != nil || obj == nil {
			return nil, errors.New("payload is not a JSON object")
		}
	}
	if r.Op == sdk.OpDelete && x.cfg.OpColumn == "" {
		return nil, errors.New("a delete cannot be exported without op_column")
	}
	var refused []string
	for f := range obj {
		if !slices.Contains(x.cfg.Columns, f) {
			refused = append(refused, f)
		}
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		return nil, fmt.Errorf("field %s not in columns; nothing written", strings.Join(refused, ", "))
	}
	vals := make([]string, len(x.header))
	for i, c := range x.cfg.Columns {
		raw, ok := obj[c]
		if !ok {
			if c == x.cfg.Key {
				vals[i] = r.ID
			}
			continue
		}
		v, err := cell(raw)
		if err != nil {
			return nil, fmt.Errorf("field %s: %v", c, err)
		}
		vals[i] = v
	}
	if x.cfg.OpColumn != "" {
		vals[len(vals)-1] = string(r.Op)
	}
	b, err := x.encodeLine(vals)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// cell renders a JSON value as CSV text: strings as they are, null as an
// empty cell, numbers and booleans as written, objects and arrays as JSON.
func cell(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	return string(raw), nil
}

// encodeLine writes vals as one CSV line and converts it to the export's
// encoding; a character the encoding cannot represent is an error, not a
// silent '?'.
func (x *export) encodeLine(vals []string) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Comma = x.cfg.delim
	w.UseCRLF = true
	if err := w.Write(vals); err != nil {
		return nil, err
	}
	w.Flush()
	if x.cfg.enc == nil {
		return buf.Bytes(), nil
	}
	out, err := x.cfg.enc.NewEncoder().Bytes(buf.Bytes())
	if err != nil {
		// Name the column, not the value: values are customer data.
		for i, v := range vals {
			if _, e := x.cfg.enc.NewEncoder().String(v); e != nil {
				return nil, fmt.Errorf("field %s: a character cannot be written in %s", x.header[i], x.cfg.Encoding)
			}
		}
		return nil, fmt.Errorf("encode to %s: %w", x.cfg.Encoding, err)
	}
	return out, nil
}

// rotate makes x.f the part file of the current period, finishing the
// previous one.
func (d *Destination) rotate(x *export) error {
	period := d.runID
	if x.cfg.Rotate == "day" {
		period = d.now().In(d.cfg.loc).Format(time.DateOnly)
	}
	if x.f != nil && x.period == period {
		return nil
	}
	if x.f != nil {
		if err := d.finish(x); err != nil {
			return err
		}
	}
	final := x.cfg.Name + "_" + period + ".csv"
	part := filepath.Join(d.cfg.Dir, "."+final+partSuffix)
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("file: create %s: %w", part, err)
	}
	size, err := f.Seek(0, 2)
	if err != nil {
		f.Close()
		return fmt.Errorf("file: %s: %w", part, err)
	}
	if size == 0 {
		h, err := x.encodeLine(x.header)
		if err == nil {
			_, err = f.Write(h)
		}
		if err != nil {
			f.Close()
			os.Remove(part)
			return fmt.Errorf("file: write header of %s: %w", part, err)
		}
	}
	x.f, x.part, x.period = f, part, period
	return nil
}

// finish closes x's part file and renames it to its final name.
func (d *Destination) finish(x *export) error {
	f := x.f
	x.f = nil
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("file: sync %s: %w", x.part, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("file: close %s: %w", x.part, err)
	}
	return finishPart(x.part, filepath.Join(d.cfg.Dir, strings.TrimSuffix(filepath.Base(x.part)[1:], partSuffix)))
}

// finishPart renames part to final, or to final with _2, _3 ... when an
// export of that name exists already (a restart in the same run second).
func finishPart(part, final string) error {
	dst := final
	for n := 2; ; n++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		dst = strings.TrimSuffix(final, ".csv") + "_" + strconv.Itoa(n) + ".csv"
	}
	if err := os.Rename(part, dst); err != nil {
		return fmt.Errorf("file: finish export %s: %w", dst, err)
	}
	if dir, err := os.Open(filepath.Dir(dst)); err == nil {
		_ = dir.Sync() // make the rename durable
		dir.Close()
	}
	return nil
}

// Teardown finishes per-run files; a per-day file stays a part file until
// its day is over (the next Open or Write after midnight finishes it).
func (d *Destination) Teardown(context.Context) error {
	var errs []error
	for _, x := range d.exports {
		if x.f == nil {
			continue
		}
		if x.cfg.Rotate == "run" {
			errs = append(errs, d.finish(x))
			continue
		}
		errs = append(errs, x.f.Close())
		x.f = nil
	}
	return errors.Join(errs...)
}
