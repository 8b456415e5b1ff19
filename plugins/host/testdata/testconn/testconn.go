// Package testconn is a connector for the host's tests: it produces numbered
// records and can be told to crash (os.Exit) in the middle of a batch, the
// way a real plugin dies on a segfault or an OOM kill.
package testconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Connector is registered as "crashy".
var Connector = sdk.Connector{
	Spec: sdk.Spec{
		Name:    "crashy",
		Summary: "Numbered test records; crashes on demand.",
		Version: "0.1.0",
		Kinds:   []sdk.Kind{sdk.KindSource, sdk.KindDestination},
		Params: []sdk.Param{
			{Name: "total", Type: sdk.TypeInt, Default: "100", Description: "Records to produce; 0 means endless."},
			{Name: "crash_at", Type: sdk.TypeInt, Default: "-1", Description: "Exit the process when about to emit this record index."},
			{Name: "crash_marker", Type: sdk.TypeString, Description: "If set, crash only while this file does not exist (it is created before crashing)."},
			{Name: "payload_bytes", Type: sdk.TypeInt, Default: "32", Description: "Filler bytes per payload."},
			{Name: "ack_file", Type: sdk.TypeString, Description: "If set, every acked position is appended to this file."},
			{Name: "password", Type: sdk.TypeString, Secret: true, Description: "Never logged."},
		},
	},
	NewSource:      func() sdk.Source { return &source{} },
	NewDestination: func() sdk.Destination { return &destination{} },
}

type config struct {
	Total        int    `json:"total"`
	CrashAt      int    `json:"crash_at"`
	CrashMarker  string `json:"crash_marker"`
	PayloadBytes int    `json:"payload_bytes"`
	AckFile      string `json:"ack_file"`
}

type source struct {
	sdk.UnimplementedSource
	cfg     config
	next    int
	payload string
	reread  []int // ids Reread asked for, handed out first by Read
	acked   int   // the acknowledged position: records below it are behind
}

func (s *source) Configure(_ context.Context, cfg sdk.Config) error {
	if err := Connector.Spec.Decode(cfg, &s.cfg); err != nil {
		return err
	}
	if s.cfg.PayloadBytes < 0 {
		return errors.New("crashy: payload_bytes must not be negative")
	}
	s.payload = strings.Repeat("x", s.cfg.PayloadBytes)
	return nil
}

func (s *source) Open(_ context.Context, pos sdk.Position) error {
	s.next = 0
	if len(pos) > 0 {
		n, err := strconv.Atoi(string(pos))
		if err != nil {
			return fmt.Errorf("crashy: bad position %q", pos)
		}
		s.next = n
	}
	slog.Info("crashy opened", "position", string(pos))
	return nil
}

type payload struct {
	N      int    `json:"n"`
	Filler string `json:"filler"`
}

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func (s *source) Read(_ context.Context, max int) ([]sdk.Record, error) {
	var out []sdk.Record
	for len(out) < max && len(s.reread) > 0 {
		n := s.reread[0]
		s.reread = s.reread[1:]
		b, _ := json.Marshal(payload{N: n, Filler: s.payload})
		out = append(out, sdk.Record{Entity: "customers", ID: strconv.Itoa(n), UpdatedAt: version(n), Op: sdk.OpUpsert,
			Payload: b, Position: sdk.Position(strconv.Itoa(s.next))})
	}
	for len(out) < max && (s.cfg.Total == 0 || s.next < s.cfg.Total) {
		if s.next == s.cfg.CrashAt && s.shouldCrash() {
			os.Exit(3)
		}
		b, _ := json.Marshal(payload{N: s.next, Filler: s.payload})
		s.next++
		out = append(out, sdk.Record{
			Entity:    "customers",
			ID:        strconv.Itoa(s.next - 1),
			UpdatedAt: version(s.next - 1),
			Op:        sdk.OpUpsert,
			Payload:   b,
			Position:  sdk.Position(strconv.Itoa(s.next)),
		})
	}
	return out, nil
}

// version is record n's UpdatedAt.
func version(n int) time.Time { return epoch.Add(time.Duration(n+1) * time.Second) }

func (s *source) shouldCrash() bool {
	if s.cfg.CrashMarker == "" {
		return true
	}
	if _, err := os.Stat(s.cfg.CrashMarker); err == nil {
		return false
	}
	_ = os.WriteFile(s.cfg.CrashMarker, []byte("crashed\n"), 0o644)
	return true
}

func (s *source) Ack(_ context.Context, pos sdk.Position) error {
	if n, err := strconv.Atoi(string(pos)); err == nil {
		s.acked = max(s.acked, n)
	}
	if s.cfg.AckFile == "" {
		return nil
	}
	f, err := os.OpenFile(s.cfg.AckFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s\n", pos)
	return err
}

// destination echoes ids; a record with id "crash" kills the process.
type destination struct{ sdk.UnimplementedDestination }

func (d *destination) Configure(context.Context, sdk.Config) error { return nil }
func (d *destination) Open(context.Context) error                  { return nil }
func (d *destination) Write(_ context.Context, recs []sdk.Record) ([]sdk.WriteResult, error) {
	out := make([]sdk.WriteResult, len(recs))
	for i, r := range recs {
		if r.ID == "crash" {
			os.Exit(3)
		}
		out[i] = sdk.WriteResult{ID: "t-" + r.ID}
		if r.Op == sdk.OpDelete {
			out[i].Error = "deletes not allowed"
		}
	}
	return out, nil
}

// Count answers for "customers" when the total is finite: every record it
// would produce is live in the "source".
func (s *source) Count(_ context.Context, entity string) (int64, error) {
	if entity != "customers" || s.cfg.Total == 0 {
		return 0, sdk.ErrNotSupported
	}
	return int64(s.cfg.Total), nil
}

// Keys lists the ids in numeric order, the way a database orders an
// integer key.
func (s *source) Keys(_ context.Context, entity, after string, limit int) ([]string, error) {
	if entity != "customers" || s.cfg.Total == 0 {
		return nil, sdk.ErrNotSupported
	}
	from := 0
	if after != "" {
		n, err := strconv.Atoi(after)
		if err != nil {
			return nil, fmt.Errorf("crashy: key %q is not a number", after)
		}
		from = n + 1
	}
	var out []string
	for i := from; i < s.cfg.Total && len(out) < limit; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out, nil
}

// VersionsBehind scans ids after `after` in numeric order, up to limit of
// them, and returns those already read (behind the position) with their
// versions. The acknowledged position counts, not the read one: the SDK
// reads ahead of what the host took.
func (s *source) VersionsBehind(_ context.Context, entity, after string, limit int) ([]string, []time.Time, string, error) {
	if entity != "customers" || s.cfg.Total == 0 {
		return nil, nil, "", sdk.ErrNotSupported
	}
	from := 0
	if after != "" {
		n, err := strconv.Atoi(after)
		if err != nil {
			return nil, nil, "", fmt.Errorf("crashy: key %q is not a number", after)
		}
		from = n + 1
	}
	var ids []string
	var versions []time.Time
	last := ""
	for i := from; i < s.cfg.Total && i < from+limit; i++ {
		if i < s.acked {
			ids = append(ids, strconv.Itoa(i))
			versions = append(versions, version(i))
		}
		if i == from+limit-1 && i < s.cfg.Total-1 {
			last = strconv.Itoa(i)
		}
	}
	return ids, versions, last, nil
}

// Reread queues ids for the next Read.
func (s *source) Reread(_ context.Context, entity string, ids []string) error {
	if entity != "customers" {
		return sdk.ErrNotSupported
	}
	for _, id := range ids {
		n, err := strconv.Atoi(id)
		if err != nil {
			return fmt.Errorf("crashy: key %q is not a number", id)
		}
		s.reread = append(s.reread, n)
	}
	return nil
}
