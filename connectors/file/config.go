package file

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding"

	"github.com/crmhub/crmhub/internal/textenc"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// Config is the typed form of the "file" source parameters. Its tags, and
// FileConfig's, declare the keys; DestConfig's and ExportFile's add what
// only a destination reads (Connector in connector.go).
type Config struct {
	Dir           string       `json:"dir" param:"required" doc:"Watched directory (source) or output directory (destination)." example:"/data/finance/export"`
	ArchiveDir    string       "json:\"archive_dir\" doc:\"Where fully acknowledged files are moved; defaults to `<dir>/archive`.\""
	QuarantineDir string       "json:\"quarantine_dir\" doc:\"Where unreadable files are moved, with a `<file>.reason.txt`; defaults to `<dir>/quarantine`.\""
	StableFor     sdk.Duration `json:"stable_for" default:"2s" doc:"A file is read once its size and mtime did not change for this long."`
	Timezone      string       "json:\"timezone\" type:\"timezone\" default:\"UTC\" doc:\"IANA time zone of `updated_at` values written without one (exports of old systems are in local time); for a destination, the local day of `rotate: day`.\" example:\"Europe/Berlin\""
	DoneMarker    bool         "json:\"done_marker\" default:\"false\" doc:\"Read `x.csv` only once `x.csv.done` exists (then stable_for is not used).\""
	Files         []FileConfig `json:"files" param:"required" doc:"File kinds (source) or CSV exports (destination); the keys of an item follow."`
}

// FileConfig is one item of `files`.
type FileConfig struct {
	Pattern   string   `json:"pattern" doc:"Glob relative to dir (source)."`
	Entity    string   `json:"entity" param:"required" doc:"Entity of the records."`
	Format    string   `json:"format" oneof:"csv|fixed|jsonl" doc:"File format (a destination writes csv)."`
	Encoding  string   `json:"encoding" param:"foldcase" doc:"Character encoding (default utf-8; any case)."`
	Delimiter string   "json:\"delimiter\" doc:\"CSV field delimiter (default `,`; `\\\\t` for tab).\""
	Quote     string   "json:\"quote\" doc:\"CSV quote character (default `\\\"`).\""
	Comment   string   `json:"comment" doc:"Line prefix of lines to skip."`
	Header    *bool    `json:"header" doc:"First line holds the column names (default true unless columns is set)."`
	Columns   []string `json:"columns" doc:"Source: column names of a file without header."`
	Key       string   `json:"key" doc:"Column used as record ID."`
	// loc reads updated_at values written without a zone (the source's
	// local time, as exports from old systems are).
	loc             *time.Location
	UpdatedAt       string  `json:"updated_at" doc:"Column holding the change time."`
	UpdatedAtFormat string  `json:"updated_at_format" doc:"Go layout of updated_at (default RFC 3339)."`
	Layout          []Field `json:"layout" doc:"Fixed-width columns."`

	enc   encoding.Encoding // nil for UTF-8
	delim rune
	quote rune
}

// Field is one column of a fixed-width layout; Start is 1-based, in
// characters after decoding.
type Field struct {
	Name   string `json:"name" param:"required" doc:"Column name."`
	Start  int    `json:"start" param:"required" doc:"First character, 1-based."`
	Length int    `json:"length" param:"required" doc:"Width in characters."`
}

func parseConfig(cfg sdk.Config) (Config, error) {
	var c Config
	if err := Connector.Spec.DecodeFor(sdk.KindSource, cfg, &c); err != nil {
		return c, err
	}
	if c.ArchiveDir == "" {
		c.ArchiveDir = filepath.Join(c.Dir, "archive")
	}
	if c.QuarantineDir == "" {
		c.QuarantineDir = filepath.Join(c.Dir, "quarantine")
	}
	var errs []error
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		errs = append(errs, fmt.Errorf("file: timezone %q: %w", c.Timezone, err))
		loc = time.UTC
	}
	if len(c.Files) == 0 {
		errs = append(errs, errors.New("file: files: at least one file kind is required"))
	}
	for i := range c.Files {
		f := &c.Files[i]
		f.loc = loc
		where := fmt.Sprintf("file: files[%d] (%s)", i, f.Pattern)
		if f.Pattern == "" {
			errs = append(errs, fmt.Errorf("%s: pattern is required", where))
		} else if _, err := filepath.Match(f.Pattern, ""); err != nil {
			errs = append(errs, fmt.Errorf("%s: pattern: %w", where, err))
		}
		if f.Entity == "" {
			errs = append(errs, fmt.Errorf("%s: entity is required", where))
		}
		if f.Key == "" {
			errs = append(errs, fmt.Errorf("%s: key is required", where))
		}
		if f.Encoding == "" {
			f.Encoding = "utf-8"
		}
		enc, ok := textenc.Lookup(f.Encoding)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: encoding %q: want utf-8, windows-1252, iso-8859-1, gb18030 or shift-jis", where, f.Encoding))
		}
		f.enc = enc
		switch f.Format {
		case "csv":
			if f.Delimiter == "" {
				f.Delimiter = ","
			}
			if f.Delimiter == `\t` {
				f.Delimiter = "\t"
			}
			if f.Quote == "" {
				f.Quote = `"`
			}
			if utf8.RuneCountInString(f.Delimiter) != 1 || utf8.RuneCountInString(f.Quote) != 1 {
				errs = append(errs, fmt.Errorf("%s: delimiter and quote must be one character each", where))
			}
			f.delim, _ = utf8.DecodeRuneInString(f.Delimiter)
			f.quote, _ = utf8.DecodeRuneInString(f.Quote)
			if f.Header == nil {
				h := len(f.Columns) == 0
				f.Header = &h
			}
		case "fixed":
			if len(f.Layout) == 0 {
				errs = append(errs, fmt.Errorf("%s: fixed format needs a layout", where))
			}
			for j, l := range f.Layout {
				if l.Name == "" || l.Start < 1 || l.Length < 1 {
					errs = append(errs, fmt.Errorf("%s: layout[%d]: want name, start >= 1 and length >= 1", where, j))
				}
			}
			no := false
			f.Header = &no
		case "jsonl":
			no := false
			f.Header = &no
		default:
			errs = append(errs, fmt.Errorf("%s: format %q: want csv, fixed or jsonl", where, f.Format))
		}
		if f.UpdatedAtFormat == "" {
			f.UpdatedAtFormat = "2006-01-02T15:04:05Z07:00"
		}
	}
	return c, errors.Join(errs...)
}

// encodingNames are the accepted `encoding` values.
var encodingNames = textenc.Names()
