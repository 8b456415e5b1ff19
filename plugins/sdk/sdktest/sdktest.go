// Package sdktest is the acceptance suite every connector runs from its own
// tests, built-in or external:
//
//	func TestAcceptance(t *testing.T) {
//		sdktest.AcceptSource(t, myconn.Connector, sdk.Config{"path": "testdata/in.jsonl"}, sdktest.Options{})
//	}
//
// AcceptSource checks the declaration, reads everything, acks, re-opens at
// a position in the middle and at the end (no record repeated, none
// skipped), and calls Teardown at awkward moments. AcceptDestination
// (destination.go) writes a batch, retries it, updates and deletes what it
// wrote and mixes in records the destination must refuse, checking each by
// its effect on the target when the connector can read it back.
package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Options tune the suite for one connector.
type Options struct {
	// Prepare, if set, runs at the start of every sub-test and returns the
	// config to use, so each can get fresh data (a temp file, a schema).
	Prepare func(t *testing.T, cfg sdk.Config) sdk.Config
	// MinRecords is how many records the source must yield; at least 2 so
	// that resuming can be checked. Default 2.
	MinRecords int
	// BatchSize passed to Read; small so that several batches are read.
	// Default 3.
	BatchSize int
	// Timeout bounds each sub-test. Default 30s.
	Timeout time.Duration
	// Consumes says the source removes what was acknowledged (a file
	// source archives a finished file): every read of ResumeFromPosition
	// then starts on fresh data from Prepare, laid out the same way.
	Consumes bool
	// AtLeastOnce says the source may hand out records again after a
	// resume (a pass over an API without a stable cursor restarts from
	// its beginning; the hub drops what it applied already): the suite
	// then checks that nothing after the position is skipped, and lets
	// records repeat.
	AtLeastOnce bool
	// Push, for a push source (a webhook), delivers at least MinRecords
	// records to an opened source from other goroutines; the suite reads
	// them. A push source keeps nothing once acked, so ResumeFromPosition
	// checks only that a source opened at the last position reads nothing.
	Push func(t *testing.T, src sdk.Source)
}

func (o *Options) defaults() {
	if o.MinRecords < 2 {
		o.MinRecords = 2
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 3
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
}

// AcceptSource runs the source acceptance suite against conn configured
// with cfg.
func AcceptSource(t *testing.T, conn sdk.Connector, cfg sdk.Config, opts Options) {
	t.Helper()
	opts.defaults()
	prepare := func(t *testing.T) sdk.Config {
		if opts.Prepare != nil {
			return opts.Prepare(t, cfg)
		}
		return cfg
	}
	t.Run("Spec", func(t *testing.T) { checkSpec(t, conn) })
	if conn.NewSource == nil {
		t.Fatalf("%s: NewSource is nil", conn.Spec.Name)
	}
	t.Run("ReadAll", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
		defer cancel()
		recs := readFrom(ctx, t, conn, prepare(t), nil, opts)
		if len(recs) < opts.MinRecords {
			t.Fatalf("read %d records, want at least %d", len(recs), opts.MinRecords)
		}
		for i, r := range recs {
			checkRecord(t, i, r)
		}
	})
	t.Run("ResumeFromPosition", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
		defer cancel()
		c := prepare(t)
		all := readFrom(ctx, t, conn, c, nil, opts)
		if len(all) < opts.MinRecords {
			t.Fatalf("read %d records, want at least %d", len(all), opts.MinRecords)
		}
		fresh := func() sdk.Config {
			if opts.Consumes {
				return prepare(t)
			}
			return c
		}
		for _, k := range []int{0, len(all) / 2} {
			if opts.Push != nil {
				break // nothing to read again: covered by the last position
			}
			rest := readFrom(ctx, t, conn, fresh(), all[k].Position, opts)
			want := all[k+1:]
			if opts.AtLeastOnce {
				got := map[string]bool{}
				for _, r := range rest {
					got[key(r)] = true
				}
				for _, w := range want {
					if !got[key(w)] {
						t.Fatalf("opened after record %d (%s): %s/%s was not read again (skipped)", k, all[k].ID, w.Entity, w.ID)
					}
				}
				continue
			}
			if len(rest) != len(want) {
				t.Fatalf("opened after record %d (%s): read %d records, want %d", k, all[k].ID, len(rest), len(want))
			}
			for i := range want {
				if key(rest[i]) != key(want[i]) {
					t.Fatalf("opened after record %d: record %d is %s/%s, want %s/%s (repeated or skipped)",
						k, i, rest[i].Entity, rest[i].ID, want[i].Entity, want[i].ID)
				}
			}
		}
		if rest := readFrom(ctx, t, conn, fresh(), all[len(all)-1].Position, opts); len(rest) != 0 && !opts.AtLeastOnce {
			t.Fatalf("opened at the last position: read %d records again, first %s", len(rest), rest[0].ID)
		}
	})
	t.Run("TeardownAnytime", func(t *testing.T) {
		teardownAnytime(t, conn, prepare(t), opts.Timeout, func() configurable { return conn.NewSource() })
	})
}

// configurable is what sources and destinations share.
type configurable interface {
	Configure(ctx context.Context, cfg sdk.Config) error
	Teardown(ctx context.Context) error
}

// teardownAnytime tears down an instance before Configure, after it, and
// twice: Teardown must be safe at any time.
func teardownAnytime(t *testing.T, conn sdk.Connector, cfg sdk.Config, timeout time.Duration, fresh func() configurable) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := fresh().Teardown(ctx); err != nil {
		t.Errorf("teardown before configure: %v", err)
	}
	c := fresh()
	if err := c.Configure(ctx, mustValidate(t, conn, cfg)); err != nil {
		t.Fatalf("configure: %v", err)
	}
	if err := c.Teardown(ctx); err != nil {
		t.Errorf("teardown after configure: %v", err)
	}
	if err := c.Teardown(ctx); err != nil {
		t.Errorf("second teardown: %v", err)
	}
}

func checkSpec(t *testing.T, conn sdk.Connector) {
	s := conn.Spec
	if s.Name == "" {
		t.Error("spec has no name")
	}
	if s.Summary == "" {
		t.Error("spec has no summary")
	}
	seen := map[string]bool{}
	for _, p := range s.Params {
		if p.Name == "" || seen[p.Name] {
			t.Errorf("parameter name %q empty or repeated", p.Name)
		}
		seen[p.Name] = true
		if p.Description == "" {
			t.Errorf("parameter %s has no description", p.Name)
		}
		if p.Required && p.Default != "" {
			t.Errorf("parameter %s is required and has a default", p.Name)
		}
		if p.Default != "" {
			if _, err := s.Validate(sdk.Config{p.Name: p.Default}); err != nil && !onlyRequired(s, p.Name, err) {
				t.Errorf("default of %s does not validate: %v", p.Name, err)
			}
		}
	}
	if len(s.Kinds) > 0 && !hasKind(s.Kinds, sdk.KindSource) {
		t.Error("spec does not declare kind source")
	}
}

// onlyRequired tells whether err only complains about other required
// parameters, which a single-default config cannot satisfy.
func onlyRequired(s sdk.Spec, name string, err error) bool {
	_, err2 := s.Validate(sdk.Config{})
	return err2 != nil && err.Error() == err2.Error()
}

func hasKind(ks []sdk.Kind, k sdk.Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func mustValidate(t *testing.T, conn sdk.Connector, cfg sdk.Config) sdk.Config {
	t.Helper()
	v, err := conn.Spec.Validate(cfg)
	if err != nil {
		t.Fatalf("test config does not validate: %v", err)
	}
	return v
}

// readFrom opens a fresh source at pos, reads until it reports nothing new
// (an empty batch once at least one record came, or a quiet second; for a
// push source, once MinRecords came), acks each batch, and tears it down.
func readFrom(ctx context.Context, t *testing.T, conn sdk.Connector, cfg sdk.Config, pos sdk.Position, opts Options) []sdk.Record {
	t.Helper()
	src := conn.NewSource()
	defer func() {
		if err := src.Teardown(ctx); err != nil {
			t.Errorf("teardown: %v", err)
		}
	}()
	if err := src.Configure(ctx, mustValidate(t, conn, cfg)); err != nil {
		t.Fatalf("configure: %v", err)
	}
	if err := src.Open(ctx, pos); err != nil {
		t.Fatalf("open at %q: %v", pos, err)
	}
	quiet := time.Second
	if opts.Push != nil && pos == nil {
		opts.Push(t, src)
		quiet = opts.Timeout / 2 // pushed records may come late on a busy machine
	}
	var out []sdk.Record
	quietSince := time.Now()
	for {
		start := time.Now()
		recs, err := src.Read(ctx, opts.BatchSize)
		if err != nil {
			t.Fatalf("read after %d records: %v", len(out), err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Read took %v: it must return promptly", d)
		}
		if len(recs) > opts.BatchSize {
			t.Fatalf("Read(%d) returned %d records", opts.BatchSize, len(recs))
		}
		if len(recs) == 0 {
			enough := len(out) > 0 && (opts.Push == nil || len(out) >= opts.MinRecords)
			if enough || pos != nil || time.Since(quietSince) > quiet {
				return out
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		out = append(out, recs...)
		if err := src.Ack(ctx, recs[len(recs)-1].Position); err != nil {
			t.Fatalf("ack: %v", err)
		}
		quietSince = time.Now()
	}
}

func checkRecord(t *testing.T, i int, r sdk.Record) {
	t.Helper()
	where := fmt.Sprintf("record %d (%s/%s)", i, r.Entity, r.ID)
	if r.Entity == "" {
		t.Errorf("%s: no entity", where)
	}
	if r.ID == "" && r.Error == "" {
		t.Errorf("%s: no id", where)
	}
	if r.Op != sdk.OpUpsert && r.Op != sdk.OpDelete {
		t.Errorf("%s: op %q", where, r.Op)
	}
	if len(r.Position) == 0 {
		t.Errorf("%s: no position", where)
	}
	if r.Error == "" && r.Op == sdk.OpUpsert {
		var obj map[string]any
		if err := json.Unmarshal(r.Payload, &obj); err != nil {
			t.Errorf("%s: payload is not a JSON object: %v", where, err)
		}
	}
}

func key(r sdk.Record) string {
	return r.Entity + "\x00" + r.ID + "\x00" + string(r.Op) + "\x00" + string(r.Payload)
}
