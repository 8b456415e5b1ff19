package store

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/quality"
	"github.com/crmhub/crmhub/hub/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// MustOpenSQLite opens a store on a fresh SQLite file.
func MustOpenSQLite(tb testing.TB, opts Options) *Store {
	tb.Helper()
	return mustOpen(tb, DriverSQLite, filepath.Join(tb.TempDir(), "hub.db"), opts)
}

// MustOpenPostgres opens a store on a fresh schema of the test PostgreSQL.
func MustOpenPostgres(tb testing.TB, opts Options) *Store {
	tb.Helper()
	return mustOpen(tb, DriverPostgres, testenv.Postgres(tb), opts)
}

// Parallel tests: the package's long property and order-independence runs
// call t.Parallel. Each opens its own SQLite files or PostgreSQL schema and
// changes no package variable, so after the package's other tests they run
// two at a time on two cores; serial, they made hub/store the last package
// of `go test -race ./...` by minutes. A test that changes package state
// (refreshPage) stays serial: Go runs it before any parallel test starts.

// mustOpen opens a store on dsn, closed when the test ends; tests opening
// a second instance on the same database call it again.
func mustOpen(tb testing.TB, driver, dsn string, opts Options) *Store {
	tb.Helper()
	s, err := Open(context.Background(), driver, dsn, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// ev builds an envelope; minute offsets keep versions ordered.
func ev(entity, system, srcEntity, id string, minute int, data any) hub.Envelope {
	e := hub.Envelope{System: system, SourceEntity: srcEntity, SourceID: id, Entity: entity,
		SourceUpdatedAt: t0.Add(time.Duration(minute) * time.Minute), SchemaVersion: hub.SchemaVersion,
		Op: hub.OpUpsert, Mapping: system + "_" + srcEntity, MappingVersion: 1, Connector: system}
	if data == nil {
		e.Op = hub.OpDelete
	} else {
		b, err := json.Marshal(data)
		if err != nil {
			panic(err)
		}
		e.Data = b
	}
	e.ComputeEventID()
	return e
}

func cust(system, id string, minute int, c hub.Customer) hub.Envelope {
	if c.Kind == "" {
		c.Kind = "person"
	}
	return ev(hub.EntityCustomer, system, "customers", id, minute, c)
}

func del(entity, system, srcEntity, id string, minute int) hub.Envelope {
	return ev(entity, system, srcEntity, id, minute, nil)
}

// qualityPeople is hub/quality's n people (names, address, birth date; no
// contact data or ids) with their copies, as customer records of the
// systems their keys name. The version time belongs to the record, not to
// its place in a stream: each order of them carries the same records.
func qualityPeople(n int, seed int64) []hub.Envelope {
	var out []hub.Envelope
	for i, r := range quality.Generate(n, seed, false, false) {
		sys, _, _ := strings.Cut(r.Key, "/")
		out = append(out, cust(sys, r.Key, i%50, r.Customer))
	}
	return out
}

func mustApply(tb testing.TB, s *Store, evs ...hub.Envelope) hub.ApplyStats {
	tb.Helper()
	st, err := s.Apply(context.Background(), evs)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// mustApplyBatches applies evs in batches of n, as a sync's consumer
// hands them over, rather than as one transaction.
func mustApplyBatches(tb testing.TB, s *Store, n int, evs []hub.Envelope) {
	tb.Helper()
	for i := 0; i < len(evs); i += n {
		mustApply(tb, s, evs[i:min(i+n, len(evs))]...)
	}
}

// snapshot is the store's final golden state: every active golden customer
// with its sources and linked records. Merge history (merged_from) is left
// out: which intermediate ids existed depends on arrival order.
func snapshot(tb testing.TB, s *Store) []hub.CustomerView {
	tb.Helper()
	var out []hub.CustomerView
	f := hub.CustomerFilter{Limit: 100}
	for {
		page, err := s.FindCustomers(context.Background(), f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, v := range page {
			v.MergedFrom = nil
			out = append(out, v)
		}
		if len(page) < f.Limit {
			return out
		}
		f.After = page[len(page)-1].ID
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return append(b, '\n')
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != string(got) {
		tb.Errorf("%s differs from what the store returns (run with -update after checking):\n%s", path, got)
	}
}
