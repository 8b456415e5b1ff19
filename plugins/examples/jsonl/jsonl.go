package main

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
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Connector declares the jsonl source once: validation, `crmhub connectors
// describe jsonl` and the README table all come from it.
var Connector = sdk.Connector{
	Spec: sdk.Spec{
		Name:    "jsonl",
		Summary: "Reads records from a JSON-lines file, one object per line.",
		Version: "0.1.0",
		Author:  "crmhub examples",
		Kinds:   []sdk.Kind{sdk.KindSource},
		Params: []sdk.Param{
			{Name: "path", Type: sdk.TypeString, Required: true, Description: "The file to read.", Example: "/data/erp/customers.jsonl"},
			{Name: "entity", Type: sdk.TypeString, Default: "customers", Description: "Entity name given to every record."},
			{Name: "id_field", Type: sdk.TypeString, Default: "id", Description: "Field holding the record id."},
			{Name: "updated_field", Type: sdk.TypeString, Default: "updated_at", Description: "RFC 3339 field holding the last change time; empty for none."},
		},
	},
	NewSource: func() sdk.Source { return &source{} },
}

type config struct {
	Path         string `json:"path"`
	Entity       string `json:"entity"`
	IDField      string `json:"id_field"`
	UpdatedField string `json:"updated_field"`
}

// source reads lines from a byte offset. Its position is "offset:line",
// the offset after the last line read and that line's number, so that
// error reports keep their line numbers after a restart.
type source struct {
	sdk.UnimplementedSource
	cfg    config
	f      *os.File
	r      *bufio.Reader
	offset int64
	line   int
}

func (s *source) Configure(_ context.Context, cfg sdk.Config) error {
	if err := Connector.Spec.Decode(cfg, &s.cfg); err != nil {
		return err
	}
	var errs []error
	if strings.TrimSpace(s.cfg.IDField) == "" {
		errs = append(errs, errors.New("jsonl: id_field must not be empty"))
	}
	if strings.TrimSpace(s.cfg.Entity) == "" {
		errs = append(errs, errors.New("jsonl: entity must not be empty"))
	}
	return errors.Join(errs...)
}

func (s *source) Open(_ context.Context, pos sdk.Position) error {
	s.offset, s.line = 0, 0
	if len(pos) > 0 {
		off, line, ok := strings.Cut(string(pos), ":")
		var err1, err2 error
		s.offset, err1 = strconv.ParseInt(off, 10, 64)
		s.line, err2 = strconv.Atoi(line)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("jsonl: bad position %q", pos)
		}
	}
	f, err := os.Open(s.cfg.Path)
	if err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	if _, err := f.Seek(s.offset, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("jsonl: seek %s to %d: %w", s.cfg.Path, s.offset, err)
	}
	s.f, s.r = f, bufio.NewReader(f)
	slog.Info("jsonl opened", "line", s.line)
	return nil
}

func (s *source) Read(_ context.Context, max int) ([]sdk.Record, error) {
	if s.r == nil {
		return nil, errors.New("jsonl: read before open")
	}
	var out []sdk.Record
	for len(out) < max {
		b, err := s.r.ReadBytes('\n')
		if err == io.EOF || (err == nil && len(b) == 0) {
			// A line without its newline is still being written: leave
			// it for the next Read.
			if len(b) > 0 {
				if _, serr := s.f.Seek(s.offset, io.SeekStart); serr != nil {
					return out, fmt.Errorf("jsonl: %w", serr)
				}
				s.r.Reset(s.f)
			}
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("jsonl: read %s: %w", s.cfg.Path, err)
		}
		s.offset += int64(len(b))
		s.line++
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		out = append(out, s.record(b))
	}
	return out, nil
}

func (s *source) record(line []byte) sdk.Record {
	r := sdk.Record{
		Entity:   s.cfg.Entity,
		Op:       sdk.OpUpsert,
		Payload:  line,
		Position: sdk.Position(fmt.Sprintf("%d:%d", s.offset, s.line)),
		Meta:     map[string]string{"file": s.cfg.Path, "line": strconv.Itoa(s.line)},
	}
	var obj map[string]any
	if err := json.Unmarshal(line, &obj); err != nil {
		r.Error = fmt.Sprintf("line %d: not a JSON object: %v", s.line, err)
		r.Payload = []byte("{}")
		return r
	}
	switch id := obj[s.cfg.IDField].(type) {
	case string:
		r.ID = id
	case float64:
		r.ID = strconv.FormatFloat(id, 'f', -1, 64)
	default:
		r.Error = fmt.Sprintf("line %d: field %q missing or not a string or number", s.line, s.cfg.IDField)
	}
	if v, ok := obj[s.cfg.UpdatedField].(string); ok && s.cfg.UpdatedField != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			r.Error = fmt.Sprintf("line %d: field %q: %v", s.line, s.cfg.UpdatedField, err)
		}
		r.UpdatedAt = t
	}
	if d, _ := obj["_deleted"].(bool); d {
		r.Op = sdk.OpDelete
	}
	return r
}

func (s *source) Teardown(context.Context) error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f, s.r = nil, nil
	return err
}
