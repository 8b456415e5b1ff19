package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// maxRecordLines bounds a quoted CSV field spanning lines, so a stray quote
// cannot swallow the rest of a file into one record.
const maxRecordLines = 1000

// Source reads files from the watched directory one at a time, in name
// order. Read runs on one goroutine; Ack may run concurrently and only
// touches the bookkeeping under mu.
type Source struct {
	sdk.UnimplementedSource
	cfg Config
	log *slog.Logger

	cur    *reader
	resume position
	seq    int

	mu          sync.Mutex
	acked       map[string]int      // file -> last acknowledged line
	finished    map[string]finished // read to the end, waiting for the ack of the last line
	quarantined map[string]struct{} // could not move away; never pick again
}

var _ sdk.Source = (*Source)(nil)

type finished struct {
	seq      int
	lastLine int // last line handed out; 0 when none
}

// Configure checks the settings without touching the file system.
func (s *Source) Configure(_ context.Context, cfg sdk.Config) error {
	c, err := parseConfig(cfg)
	if err != nil {
		return err
	}
	s.cfg = c
	s.log = slog.Default().With("connector", "file")
	return nil
}

// Open checks the directory and remembers where to resume.
func (s *Source) Open(_ context.Context, pos sdk.Position) error {
	if st, err := os.Stat(s.cfg.Dir); err != nil || !st.IsDir() {
		return fmt.Errorf("file: watched directory %s: not a readable directory: %v", s.cfg.Dir, err)
	}
	s.acked = map[string]int{}
	s.finished = map[string]finished{}
	s.quarantined = map[string]struct{}{}
	s.resume = position{}
	if len(pos) > 0 {
		if err := json.Unmarshal(pos, &s.resume); err != nil {
			return fmt.Errorf("file: decode position: %w", err)
		}
		s.acked[s.resume.File] = s.resume.Line
	}
	return nil
}

// Read hands out up to max records from the current file, going on to the
// next ready file at the end of one. It returns an empty batch when no file
// is ready.
func (s *Source) Read(ctx context.Context, max int) ([]sdk.Record, error) {
	if s.acked == nil {
		return nil, errors.New("file: Read before Open")
	}
	var recs []sdk.Record
	for len(recs) < max {
		if err := ctx.Err(); err != nil {
			return recs, nil
		}
		if s.cur == nil {
			r, err := s.pickNext()
			if err != nil {
				return recs, err
			}
			if r == nil {
				break
			}
			s.cur = r
		}
		rec, err := s.cur.next()
		switch {
		case err == io.EOF:
			s.finish(s.cur)
			s.cur = nil
		case err != nil:
			s.quarantine(s.cur.name, s.cur.f, err)
			s.cur = nil
		default:
			recs = append(recs, rec)
		}
	}
	return recs, nil
}

// Ack archives every file whose last line is now acknowledged. Files are
// read in order, so an ack in a later file covers all earlier ones.
func (s *Source) Ack(_ context.Context, pos sdk.Position) error {
	var p position
	if err := json.Unmarshal(pos, &p); err != nil {
		return fmt.Errorf("file: decode position: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked[p.File] = p.Line
	cur, curOK := s.finished[p.File]
	for name, f := range s.finished {
		if (curOK && f.seq < cur.seq) || (name == p.File && p.Line >= f.lastLine) {
			s.archive(name)
			delete(s.finished, name)
		}
	}
	return nil
}

// Teardown closes the open file.
func (s *Source) Teardown(context.Context) error {
	if s.cur != nil {
		s.cur.f.Close()
		s.cur = nil
	}
	return nil
}

// pickNext opens the first ready file: the resume file first, then by name.
func (s *Source) pickNext() (*reader, error) {
	type cand struct {
		name string
		fc   *FileConfig
	}
	// A directory that went away (an unmounted share, a deleted export
	// folder) is an error, not an empty folder: Glob finds nothing in
	// either, and the source would look caught up while it reads nothing.
	if fi, err := os.Stat(s.cfg.Dir); err != nil {
		return nil, fmt.Errorf("file: directory %s: %w", s.cfg.Dir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("file: %s is not a directory", s.cfg.Dir)
	}
	var cands []cand
	taken := map[string]bool{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.cfg.Files {
		fc := &s.cfg.Files[i]
		matches, err := filepath.Glob(filepath.Join(s.cfg.Dir, fc.Pattern))
		if err != nil {
			return nil, fmt.Errorf("file: pattern %s: %w", fc.Pattern, err)
		}
		for _, m := range matches {
			name, err := filepath.Rel(s.cfg.Dir, m)
			if err != nil || taken[name] || strings.HasSuffix(name, ".done") || strings.HasSuffix(name, ".reason.txt") {
				continue
			}
			if _, ok := s.finished[name]; ok {
				continue
			}
			if _, ok := s.quarantined[name]; ok {
				continue
			}
			taken[name] = true
			cands = append(cands, cand{name, fc})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if a.name == s.resume.File {
			return -1
		}
		if b.name == s.resume.File {
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	for _, c := range cands {
		path := filepath.Join(s.cfg.Dir, c.name)
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if s.cfg.DoneMarker {
			if _, err := os.Stat(path + ".done"); err != nil {
				continue
			}
		} else if time.Since(st.ModTime()) < time.Duration(s.cfg.StableFor) {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			s.quarantineLocked(c.name, nil, fmt.Errorf("open: %w", err))
			continue
		}
		s.seq++
		r := &reader{name: c.name, f: f, br: bufio.NewReaderSize(f, 64<<10), fc: c.fc, seq: s.seq, skipTo: s.acked[c.name]}
		if c.fc.enc != nil {
			r.dec = c.fc.enc.NewDecoder()
		}
		if len(c.fc.Columns) > 0 {
			r.setNames(c.fc.Columns)
		}
		if c.fc.Format == "fixed" {
			names := make([]string, len(c.fc.Layout))
			for i, l := range c.fc.Layout {
				names[i] = l.Name
			}
			r.setNames(names)
		}
		if r.names != nil {
			if err := r.checkNames(); err != nil {
				s.quarantineLocked(c.name, f, err)
				continue
			}
		}
		return r, nil
	}
	return nil, nil
}

func (s *Source) finish(r *reader) {
	r.f.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.lastEmitted <= s.acked[r.name] {
		// Nothing of this file is waiting for an ack (empty, or all of it
		// was acknowledged before a restart).
		s.archive(r.name)
		return
	}
	s.finished[r.name] = finished{seq: r.seq, lastLine: r.lastEmitted}
}

// archive moves a file (and its .done marker) to the archive folder. Called
// with mu held.
func (s *Source) archive(name string) {
	if err := moveFile(filepath.Join(s.cfg.Dir, name), s.cfg.ArchiveDir); err != nil {
		s.log.Error("archive file", "file", name, "err", err)
		s.quarantined[name] = struct{}{} // do not read it again
		return
	}
	_ = moveFile(filepath.Join(s.cfg.Dir, name+".done"), s.cfg.ArchiveDir)
	delete(s.acked, name)
}

func (s *Source) quarantine(name string, f *os.File, reason error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quarantineLocked(name, f, reason)
}

// quarantineLocked moves an unreadable file aside with a reason file.
func (s *Source) quarantineLocked(name string, f *os.File, reason error) {
	if f != nil {
		f.Close()
	}
	s.log.Warn("quarantine file", "file", name, "reason", reason)
	s.quarantined[name] = struct{}{}
	src := filepath.Join(s.cfg.Dir, name)
	if err := moveFile(src, s.cfg.QuarantineDir); err != nil {
		s.log.Error("quarantine file", "file", name, "err", err)
		return
	}
	_ = moveFile(src+".done", s.cfg.QuarantineDir)
	msg := fmt.Sprintf("file %s quarantined at %s: %v\n", name, time.Now().UTC().Format(time.RFC3339), reason)
	if err := os.WriteFile(filepath.Join(s.cfg.QuarantineDir, filepath.Base(name)+".reason.txt"), []byte(msg), 0o644); err != nil {
		s.log.Error("write quarantine reason", "file", name, "err", err)
	}
}

func moveFile(src, dir string) error {
	if _, err := os.Stat(src); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if _, err := os.Stat(dst); err == nil {
		// Same name exported again later: keep both.
		dst = filepath.Join(dir, time.Now().UTC().Format("20060102T150405.000000000")+"_"+filepath.Base(src))
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("move %s to %s: %w", src, dir, err)
	}
	return nil
}

// reader reads one file.
type reader struct {
	name        string
	f           *os.File
	br          *bufio.Reader
	fc          *FileConfig
	dec         *encoding.Decoder
	seq         int
	line        int // physical lines consumed
	skipTo      int // records ending at or before this line were acknowledged
	lastEmitted int
	headerDone  bool
	names       []string
	jsonNames   [][]byte
	keyIdx      int
	updIdx      int
	fields      []string
	// back holds lines read ahead for a quoted field that never closed,
	// to be read again on their own.
	back [][]byte
}

func (r *reader) setNames(names []string) {
	r.names = names
	r.jsonNames = make([][]byte, len(names))
	for i, n := range names {
		r.jsonNames[i] = appendString(nil, n)
	}
}

// checkNames validates the column names; a failure makes the whole file
// unreadable.
func (r *reader) checkNames() error {
	seen := map[string]bool{}
	r.keyIdx, r.updIdx = -1, -1
	for i, n := range r.names {
		if n == "" {
			return fmt.Errorf("column %d has no name", i+1)
		}
		if seen[n] {
			return fmt.Errorf("column %q appears twice", n)
		}
		seen[n] = true
		if n == r.fc.Key {
			r.keyIdx = i
		}
		if n == r.fc.UpdatedAt {
			r.updIdx = i
		}
	}
	if r.keyIdx < 0 {
		return fmt.Errorf("key column %q is not among the columns %v", r.fc.Key, r.names)
	}
	if r.fc.UpdatedAt != "" && r.updIdx < 0 {
		return fmt.Errorf("updated_at column %q is not among the columns %v", r.fc.UpdatedAt, r.names)
	}
	return nil
}

// physical reads one line without its line break; io.EOF at the end.
func (r *reader) physical() ([]byte, error) {
	if len(r.back) > 0 {
		raw := r.back[0]
		r.back = r.back[1:]
		r.line++
		return raw, nil
	}
	raw, err := r.br.ReadBytes('\n')
	if len(raw) == 0 && err != nil {
		return nil, err
	}
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read line %d: %w", r.line+1, err)
	}
	r.line++
	raw = bytes.TrimSuffix(raw, []byte("\n"))
	raw = bytes.TrimSuffix(raw, []byte("\r"))
	if r.line == 1 {
		raw = bytes.TrimPrefix(raw, []byte("\xEF\xBB\xBF")) // UTF-8 BOM
	}
	return raw, nil
}

// decode turns raw bytes of the file's encoding into text.
func (r *reader) decode(raw []byte) (string, error) {
	if r.dec == nil {
		if !utf8.Valid(raw) {
			return "", errors.New("bytes are not valid utf-8")
		}
		return string(raw), nil
	}
	b, err := r.dec.Bytes(raw)
	if err != nil {
		return "", fmt.Errorf("bytes are not valid %s: %w", r.fc.Encoding, err)
	}
	if bytes.ContainsRune(b, utf8.RuneError) {
		return "", fmt.Errorf("bytes are not valid %s", r.fc.Encoding)
	}
	return string(b), nil
}

// next returns the next record, io.EOF at the end of the file, or another
// error when the file as a whole cannot be read.
func (r *reader) next() (sdk.Record, error) {
	for {
		raw, err := r.physical()
		if err != nil {
			return sdk.Record{}, err
		}
		first := r.line
		text, derr := r.decode(raw)
		if derr != nil {
			if !r.headerDone && r.fc.Header != nil && *r.fc.Header {
				return sdk.Record{}, fmt.Errorf("header line %d: %w", first, derr)
			}
			if r.line <= r.skipTo {
				continue
			}
			return r.bad(raw, first, derr), nil
		}
		if text == "" || (r.fc.Comment != "" && strings.HasPrefix(text, r.fc.Comment)) {
			continue
		}
		switch r.fc.Format {
		case "csv":
			fields, err := splitCSV(text, r.fc.delim, r.fc.quote, r.fields)
			firstRaw := raw
			var extra [][]byte
			for errors.Is(err, errIncomplete) && r.line-first < maxRecordLines {
				more, perr := r.physical()
				if perr == io.EOF {
					break
				}
				if perr != nil {
					return sdk.Record{}, perr
				}
				extra = append(extra, more)
				raw = append(append(slices.Clip(raw), '\n'), more...)
				mt, derr := r.decode(more)
				if derr != nil {
					err = derr
					break
				}
				text += "\n" + mt
				fields, err = splitCSV(text, r.fc.delim, r.fc.quote, r.fields)
			}
			if len(extra) > 0 && (r.headerDone || !*r.fc.Header) && r.line > r.skipTo &&
				(err != nil || len(fields) != len(r.names)) {
				// A quote that never closes (within maxRecordLines or the
				// file), or closes only into a record that does not parse
				// or has the wrong number of fields: the opening line
				// alone is bad. The lines after
				// it are read again on their own, so one stray quote
				// costs one line, not the rest of the file.
				r.back = append(extra, r.back...)
				r.line -= len(extra)
				return r.bad(firstRaw, first, fmt.Errorf("quoted field opened on this line does not close into a record of %d fields within %d lines; the following lines are read on their own", len(r.names), maxRecordLines)), nil
			}
			r.fields = fields
			if !r.headerDone && *r.fc.Header {
				r.headerDone = true
				if err != nil {
					return sdk.Record{}, fmt.Errorf("header line %d: %w", first, err)
				}
				if r.names == nil {
					r.setNames(slices.Clone(fields))
					if err := r.checkNames(); err != nil {
						return sdk.Record{}, fmt.Errorf("header line %d: %w", first, err)
					}
				}
				continue
			}
			if r.line <= r.skipTo {
				continue
			}
			if err != nil {
				return r.bad(raw, first, err), nil
			}
			if len(fields) != len(r.names) {
				return r.bad(raw, first, fmt.Errorf("%d fields, want %d", len(fields), len(r.names))), nil
			}
			return r.record(raw, first, fields, nil)
		case "fixed":
			if r.line <= r.skipTo {
				continue
			}
			vals, err := r.fixed(text)
			if err != nil {
				return r.bad(raw, first, err), nil
			}
			return r.record(raw, first, vals, nil)
		default: // jsonl
			if r.line <= r.skipTo {
				continue
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(text), &obj); err != nil {
				return r.bad(raw, first, fmt.Errorf("not a JSON object: %w", err)), nil
			}
			return r.record(raw, first, nil, obj)
		}
	}
}

// fixed cuts a fixed-width line. Exporters often trim trailing blanks, so
// fields past the end of the line are empty; but a line that ends before its
// key field is complete is broken.
func (r *reader) fixed(text string) ([]string, error) {
	runes := []rune(text)
	vals := make([]string, len(r.fc.Layout))
	for i, l := range r.fc.Layout {
		start := l.Start - 1
		end := start + l.Length
		if i == r.keyIdx && end > len(runes) {
			return nil, fmt.Errorf("line has %d characters, key field %s ends at %d", len(runes), l.Name, end)
		}
		if start >= len(runes) {
			continue
		}
		vals[i] = strings.TrimSpace(string(runes[start:min(end, len(runes))]))
	}
	return vals, nil
}

func (r *reader) meta(line int) map[string]string {
	return map[string]string{"file": r.name, "line": strconv.Itoa(line)}
}

// bad turns an unreadable line into a record the host dead-letters.
func (r *reader) bad(raw []byte, line int, err error) sdk.Record {
	r.lastEmitted = r.line
	return sdk.Record{
		Entity:   r.fc.Entity,
		ID:       r.name + ":" + strconv.Itoa(line),
		Op:       sdk.OpUpsert,
		Payload:  rawPayload(raw),
		Position: position{File: r.name, Line: r.line}.encode(),
		Error:    fmt.Sprintf("file %s line %d: %v", r.name, line, err),
		Meta:     r.meta(line),
	}
}

func (r *reader) record(raw []byte, line int, vals []string, obj map[string]json.RawMessage) (sdk.Record, error) {
	var key, upd string
	var payload []byte
	if obj != nil {
		key, _ = jsonField(obj, r.fc.Key)
		if r.fc.UpdatedAt != "" {
			upd, _ = jsonField(obj, r.fc.UpdatedAt)
		}
		payload = raw
		if r.dec != nil {
			var err error
			if payload, err = json.Marshal(obj); err != nil {
				return r.bad(raw, line, err), nil
			}
		}
	} else {
		key = vals[r.keyIdx]
		if r.updIdx >= 0 {
			upd = vals[r.updIdx]
		}
		payload = objectPayload(r.jsonNames, vals)
	}
	if key == "" {
		return r.bad(raw, line, fmt.Errorf("key field %q is empty", r.fc.Key)), nil
	}
	rec := sdk.Record{
		Entity:   r.fc.Entity,
		ID:       key,
		Op:       sdk.OpUpsert,
		Payload:  payload,
		Position: position{File: r.name, Line: r.line}.encode(),
		Meta:     r.meta(line),
	}
	if upd != "" {
		t, err := time.ParseInLocation(r.fc.UpdatedAtFormat, upd, r.fc.loc)
		if err != nil {
			return r.bad(raw, line, fmt.Errorf("field %s: %q does not match layout %q", r.fc.UpdatedAt, upd, r.fc.UpdatedAtFormat)), nil
		}
		rec.UpdatedAt = t
	}
	r.lastEmitted = r.line
	return rec, nil
}
