package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// DestinationOptions tune the destination suite for one connector.
type DestinationOptions struct {
	// Prepare, if set, runs at the start of every sub-test and returns the
	// config to use, so each writes into a fresh target (a temp directory,
	// a schema, a test server).
	Prepare func(t *testing.T, cfg sdk.Config) sdk.Config
	// Records are written in one batch; the destination must accept every
	// one of them (at least one). Records without an ID are creates: the
	// destination's results name the IDs the target gave them.
	Records []sdk.Record
	// Check, if set, looks at the target after the batch was written:
	// what the suite cannot know (a row, a line, a request).
	Check func(t *testing.T, cfg sdk.Config, results []sdk.WriteResult)
	// Target, if set, reads back what the target holds as its reader
	// sees it: the live records keyed by ID (deleted ones left out), each
	// the fields it can compare, as text (a JSON string as its content,
	// other JSON values as written, null as ""). The suite then checks
	// every sub-test by its effect: a written field has the payload's
	// value, a retried batch changes nothing, a deleted record is gone, a
	// refused one was not written. Fields the target leaves out are not
	// compared, so a connector returns those that read back exactly.
	Target func(t *testing.T, cfg sdk.Config) map[string]map[string]string
	// Update, if set, makes the change of a written record (r carries the
	// ID its write returned): the same entity and ID with other values.
	// The Upsert sub-test writes it over the batch and expects it
	// accepted, and with Target, the new values and no new record.
	Update func(r sdk.Record) sdk.Record
	// Deletes says the destination writes OpDelete records: the Delete
	// sub-test deletes the first record twice (a retried delete finds it
	// gone) and expects both accepted, and with Target, the record gone
	// and the others kept.
	Deletes bool
	// Bad are records the destination must refuse by itself (a field
	// outside its allow-list, a payload that is not an object): written
	// between the good ones, each gets its own error, the batch no error,
	// the good records are written and, with Target, no bad one is.
	Bad []sdk.Record
	// Timeout bounds each sub-test. Default 30s.
	Timeout time.Duration
}

// AcceptDestination runs the destination acceptance suite against conn
// configured with cfg: the declaration, one result per record in order
// and none for an empty batch, a second batch on the same instance, a
// retried batch (as the host retries one whose answer was lost), and
// Teardown at awkward moments; with the options, upserts over written
// records, deletes and refused records.
func AcceptDestination(t *testing.T, conn sdk.Connector, cfg sdk.Config, opts DestinationOptions) {
	t.Helper()
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if len(opts.Records) == 0 {
		t.Fatal("DestinationOptions.Records: give the suite at least one record the destination accepts")
	}
	prepare := func(t *testing.T) sdk.Config {
		if opts.Prepare != nil {
			return opts.Prepare(t, cfg)
		}
		return cfg
	}
	// run opens a fresh destination on a fresh target, writes Records and
	// hands both to the sub-test.
	run := func(name string, f func(ctx context.Context, t *testing.T, c sdk.Config, d sdk.Destination, res []sdk.WriteResult)) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
			defer cancel()
			c := prepare(t)
			d := openDestination(ctx, t, conn, c)
			defer teardown(ctx, t, d)
			f(ctx, t, c, d, writeAll(ctx, t, d, opts.Records, "write"))
		})
	}
	t.Run("Spec", func(t *testing.T) {
		if conn.Spec.Name == "" {
			t.Error("spec has no name")
		}
		if len(conn.Spec.Kinds) > 0 && !hasKind(conn.Spec.Kinds, sdk.KindDestination) {
			t.Error("spec does not declare kind destination")
		}
	})
	if conn.NewDestination == nil {
		t.Fatalf("%s: NewDestination is nil", conn.Spec.Name)
	}
	t.Run("Write", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
		defer cancel()
		c := prepare(t)
		d := openDestination(ctx, t, conn, c)
		defer teardown(ctx, t, d)
		res, err := d.Write(ctx, nil)
		if err != nil || len(res) != 0 {
			t.Fatalf("empty batch: %d results, error %v; want none and no error", len(res), err)
		}
		res = writeAll(ctx, t, d, opts.Records, "write")
		if opts.Check != nil {
			opts.Check(t, c, res)
		}
		if opts.Target != nil {
			want := expect(t, nil, opts.Records, res)
			compare(t, "after the write", want, opts.Target(t, c))
		}
		// The same instance takes another batch: the host keeps a
		// destination open across batches.
		if res, err := d.Write(ctx, opts.Records[:1]); err != nil || len(res) != 1 {
			t.Fatalf("second batch: %d results, error %v; want 1 and no error", len(res), err)
		}
	})
	run("RetryIsIdempotent", func(ctx context.Context, t *testing.T, c sdk.Config, d sdk.Destination, first []sdk.WriteResult) {
		var before map[string]map[string]string
		if opts.Target != nil {
			before = opts.Target(t, c)
		}
		again := writeAll(ctx, t, d, opts.Records, "retried write")
		for i := range first {
			if first[i].ID != "" && again[i].ID != first[i].ID {
				t.Errorf("record %d: the retry names id %q, the first write %q: a retried create must not create again", i, again[i].ID, first[i].ID)
			}
		}
		if opts.Target != nil {
			compare(t, "after the retry", before, opts.Target(t, c))
		}
	})
	if opts.Update != nil {
		run("Upsert", func(ctx context.Context, t *testing.T, c sdk.Config, d sdk.Destination, first []sdk.WriteResult) {
			updates := make([]sdk.Record, len(opts.Records))
			for i, r := range opts.Records {
				updates[i] = opts.Update(withID(t, r, first[i]))
			}
			res := writeAll(ctx, t, d, updates, "update")
			if opts.Target != nil {
				want := expect(t, expect(t, nil, opts.Records, first), updates, res)
				compare(t, "after the update", want, opts.Target(t, c))
			}
		})
	}
	if opts.Deletes {
		run("Delete", func(ctx context.Context, t *testing.T, c sdk.Config, d sdk.Destination, first []sdk.WriteResult) {
			gone := withID(t, opts.Records[0], first[0])
			del := sdk.Record{Entity: gone.Entity, ID: gone.ID, Op: sdk.OpDelete}
			writeAll(ctx, t, d, []sdk.Record{del}, "delete")
			writeAll(ctx, t, d, []sdk.Record{del}, "retried delete")
			if opts.Target != nil {
				want := expect(t, nil, opts.Records, first)
				delete(want, gone.ID)
				compare(t, "after the delete", want, opts.Target(t, c))
			}
		})
	}
	if len(opts.Bad) > 0 {
		t.Run("BadRecord", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
			defer cancel()
			c := prepare(t)
			d := openDestination(ctx, t, conn, c)
			defer teardown(ctx, t, d)
			// The bad records sit between good ones: a refusal must not
			// stop the batch or shift the results.
			batch := append([]sdk.Record{opts.Records[0]}, opts.Bad...)
			batch = append(batch, opts.Records[1:]...)
			res, err := d.Write(ctx, batch)
			if err != nil {
				t.Fatalf("a batch with %d bad records failed as a whole: %v; want an error per bad record", len(opts.Bad), err)
			}
			if len(res) != len(batch) {
				t.Fatalf("%d results for %d records, want one per record", len(res), len(batch))
			}
			var good []sdk.Record
			var goodRes []sdk.WriteResult
			for i, r := range res {
				bad := i >= 1 && i <= len(opts.Bad)
				switch {
				case bad && r.Error == "":
					t.Errorf("record %d (%s/%s, %s): accepted, want it refused", i, batch[i].Entity, batch[i].ID, batch[i].Payload)
				case !bad && r.Error != "":
					t.Errorf("record %d (%s/%s): refused next to a bad record: %s", i, batch[i].Entity, batch[i].ID, r.Error)
				case !bad:
					good = append(good, batch[i])
					goodRes = append(goodRes, r)
				}
			}
			if opts.Target != nil {
				compare(t, "after a batch with bad records", expect(t, nil, good, goodRes), opts.Target(t, c))
			}
		})
	}
	t.Run("TeardownAnytime", func(t *testing.T) {
		teardownAnytime(t, conn, prepare(t), opts.Timeout, func() configurable { return conn.NewDestination() })
	})
}

// writeAll writes recs as one batch and fails t unless every one was
// accepted with a result of its own.
func writeAll(ctx context.Context, t *testing.T, d sdk.Destination, recs []sdk.Record, what string) []sdk.WriteResult {
	t.Helper()
	res, err := d.Write(ctx, recs)
	if err != nil {
		t.Fatalf("%s %d records: %v", what, len(recs), err)
	}
	if len(res) != len(recs) {
		t.Fatalf("%s %d records: %d results, want one per record", what, len(recs), len(res))
	}
	for i, r := range res {
		if r.Error != "" {
			t.Errorf("%s: record %d (%s/%s): refused: %s", what, i, recs[i].Entity, recs[i].ID, r.Error)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return res
}

// withID is r with the ID its write returned (a create's new ID).
func withID(t *testing.T, r sdk.Record, res sdk.WriteResult) sdk.Record {
	t.Helper()
	if r.ID == "" {
		r.ID = res.ID
	}
	if r.ID == "" {
		t.Fatalf("record %s %s: its write returned no id, so it cannot be changed or deleted", r.Entity, r.Payload)
	}
	return r
}

// expect is base (copied) with recs written over it: each record's
// fields as text under the ID its write returned.
func expect(t *testing.T, base map[string]map[string]string, recs []sdk.Record, res []sdk.WriteResult) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for id, f := range base {
		out[id] = maps.Clone(f)
	}
	for i, r := range recs {
		id := withID(t, r, res[i]).ID
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(r.Payload, &fields); err != nil {
			t.Fatalf("record %s/%s: payload %s: %v", r.Entity, id, r.Payload, err)
		}
		if out[id] == nil {
			out[id] = map[string]string{}
		}
		for k, v := range fields {
			out[id][k] = text(v)
		}
	}
	return out
}

// text is a JSON value as a target holds it as text.
func text(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if string(v) == "null" {
		return ""
	}
	return string(v)
}

// compare checks that got holds exactly want's records, and for each the
// fields got has, want's values.
func compare(t *testing.T, when string, want, got map[string]map[string]string) {
	t.Helper()
	for id, fields := range want {
		row, ok := got[id]
		if !ok {
			t.Errorf("%s: the target lacks record %q", when, id)
			continue
		}
		for k, v := range row {
			if w, ok := fields[k]; ok && w != v {
				t.Errorf("%s: record %q field %s is %q, want %q", when, id, k, v, w)
			}
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("%s: the target holds record %q, which should not be there", when, id)
		}
	}
}

func openDestination(ctx context.Context, t *testing.T, conn sdk.Connector, cfg sdk.Config) sdk.Destination {
	t.Helper()
	d := conn.NewDestination()
	if err := d.Configure(ctx, mustValidate(t, conn, cfg)); err != nil {
		t.Fatalf("configure: %v", err)
	}
	if err := d.Open(ctx); err != nil {
		teardown(ctx, t, d)
		t.Fatalf("open: %v", err)
	}
	return d
}

func teardown(ctx context.Context, t *testing.T, d sdk.Destination) {
	t.Helper()
	if err := d.Teardown(ctx); err != nil {
		t.Errorf("teardown: %v", err)
	}
}
