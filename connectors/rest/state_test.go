package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// stateCfg is a source of the test CRM's contacts, in pages of 5, without
// since_param (every pass reads every record), keeping state in dir.
func stateCfg(url, dir string, ent map[string]any) sdk.Config {
	e := map[string]any{"name": "contacts", "path": "/api/v1/contacts", "records": "data", "id": "id",
		"pagination": map[string]any{"type": "page", "size_param": "per_page", "size": 5, "total_pages_path": "total_pages"}}
	for k, v := range ent {
		e[k] = v
	}
	cfg := sdk.Config{"base_url": url, "rate_limit": "1000", "auth": map[string]any{"type": "api_key", "key": "k3y"}, "entities": []any{e}}
	if dir != "" {
		cfg["state_dir"] = dir
	}
	return cfg
}

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// openLogged is newSource with the source's log captured.
func openLogged(t *testing.T, cfg sdk.Config, pos sdk.Position) (*Source, *logBuf) {
	t.Helper()
	s := &Source{backoff: 10 * time.Millisecond}
	if err := s.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	lb := &logBuf{}
	s.log = slog.New(slog.NewTextHandler(lb, nil))
	if err := s.Open(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Teardown(context.Background()) })
	return s, lb
}

// drainAck drains s and acknowledges the last record's position, which it
// returns (nil when nothing was read).
func drainAck(t *testing.T, s *Source) ([]sdk.Record, sdk.Position) {
	t.Helper()
	recs := drain(t, s)
	if len(recs) == 0 {
		return nil, nil
	}
	pos := recs[len(recs)-1].Position
	if err := s.Ack(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
	return recs, pos
}

func (a *api) edit(f func(cs []contact) []contact) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.contacts = f(a.contacts)
}

func stateFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func allIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("c%03d", i+1)
	}
	return out
}

// A restart with the same state_dir emits nothing unchanged and exactly the
// records changed while stopped, whether records are fingerprinted by
// updated_at or by content; Ack leaves one state file.
func TestRestartKeepsFingerprints(t *testing.T) {
	for name, ent := range map[string]map[string]any{
		"updated_at": {"updated_at": "updated_at"},
		"content":    {},
	} {
		t.Run(name, func(t *testing.T) {
			a := newAPI(12)
			srv := httptest.NewServer(a)
			defer srv.Close()
			dir := t.TempDir()
			cfg := stateCfg(srv.URL, dir, ent)

			// Stopped in the middle of the first load (no version yet,
			// only the log): the rest of it, then nothing.
			s, _ := openLogged(t, cfg, nil)
			var first []sdk.Record
			for len(first) < 7 {
				recs, err := s.Read(context.Background(), 7-len(first))
				if err != nil {
					t.Fatal(err)
				}
				first = append(first, recs...)
			}
			s.Ack(context.Background(), first[6].Position)
			s.Teardown(context.Background())
			s, _ = openLogged(t, cfg, first[6].Position)
			rest, pos := drainAck(t, s)
			if !slices.Equal(ids(rest), allIDs(12)[7:]) {
				t.Fatalf("after a restart in the first load %v, want %v", ids(rest), allIDs(12)[7:])
			}
			s.Teardown(context.Background())

			s, _ = openLogged(t, cfg, pos)
			if again := drain(t, s); len(again) != 0 {
				t.Fatalf("restart of an unchanged collection emitted %v", ids(again))
			}
			s.Teardown(context.Background())

			a.edit(func(cs []contact) []contact {
				for _, i := range []int{2, 9} {
					cs[i].Email = "new@example.com"
					cs[i].UpdatedAt = "2025-01-01T00:00:00Z"
				}
				return append(cs, contact{ID: "c100", Email: "x@example.com", UpdatedAt: "2025-01-02T00:00:00Z"})
			})
			s, _ = openLogged(t, cfg, pos)
			got, pos := drainAck(t, s)
			if want := []string{"c003", "c010", "c100"}; !slices.Equal(ids(got), want) {
				t.Fatalf("after changes while stopped %v, want exactly %v", ids(got), want)
			}
			if files := stateFiles(t, dir); len(files) != 2 || !strings.HasPrefix(files[0], "contacts-") ||
				strings.TrimSuffix(files[0], ".log") != strings.TrimSuffix(files[1], ".seen") {
				t.Errorf("state files after ack %v, want the base and log of the version the position names", files)
			}
			s.Teardown(context.Background())
			s, _ = openLogged(t, cfg, pos)
			if again := drain(t, s); len(again) != 0 {
				t.Fatalf("second restart emitted %v", ids(again))
			}
		})
	}
}

// A crash after a pass saved its fingerprints but before its records were
// acknowledged restarts from the previous version and emits them again;
// only the pass's last record names the new version.
func TestCrashBeforeAckReemits(t *testing.T) {
	a := newAPI(12)
	srv := httptest.NewServer(a)
	defer srv.Close()
	dir := t.TempDir()
	cfg := stateCfg(srv.URL, dir, map[string]any{"updated_at": "updated_at"})

	s, _ := openLogged(t, cfg, nil)
	_, acked := drainAck(t, s)
	s.Teardown(context.Background())

	a.edit(func(cs []contact) []contact {
		for _, i := range []int{1, 6, 11} { // on pages 1, 2 and 3
			cs[i].UpdatedAt = "2025-01-01T00:00:00Z"
		}
		return cs
	})
	s, _ = openLogged(t, cfg, acked)
	got := drain(t, s) // emitted, never acknowledged: the process dies
	want := []string{"c002", "c007", "c012"}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("changed %v, want %v", ids(got), want)
	}
	state := func(p sdk.Position) uint32 {
		var pos position
		if err := json.Unmarshal(p, &pos); err != nil {
			t.Fatal(err)
		}
		return pos.Entities["contacts"].State
	}
	if v0, v1, v2 := state(acked), state(got[0].Position), state(got[2].Position); v1 != v0 || v2 != v0+1 {
		t.Errorf("state versions: acked %d, first record %d, pass's last %d; want the new version only on the last", v0, v1, v2)
	}
	s.Teardown(context.Background())

	s, _ = openLogged(t, cfg, acked)
	if again := drain(t, s); !slices.Equal(ids(again), want) {
		t.Fatalf("after the crash %v, want %v again", ids(again), want)
	}
	s.Teardown(context.Background())

	// Stopped after acknowledging the first changed record only: the
	// log gives it that record's fingerprint; it resumes after it, and
	// the next pass emits nothing.
	s, _ = openLogged(t, cfg, got[0].Position)
	if rest := restOfPass(t, s); !slices.Equal(ids(rest), want[1:]) {
		t.Fatalf("after a restart mid-pass %v, want %v", ids(rest), want[1:])
	}
	if next := drain(t, s); len(next) != 0 {
		t.Fatalf("the pass after a restart mid-pass %v, want nothing", ids(next))
	}
	s.Teardown(context.Background())

	// The log lost its tail (the machine crashed): the first changed
	// record is emitted once more, with a warning; nothing is lost.
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		os.Truncate(l, 0)
	}
	s, log := openLogged(t, cfg, got[0].Position)
	if rest := restOfPass(t, s); !slices.Equal(ids(rest), want[1:]) {
		t.Fatalf("after a restart mid-pass with a lost log %v, want %v", ids(rest), want[1:])
	}
	if next := drain(t, s); !slices.Equal(ids(next), want[:1]) {
		t.Fatalf("the pass after it %v, want %v", ids(next), want[:1])
	}
	if !strings.Contains(log.String(), "state log not replayed") {
		t.Errorf("no warning for the lost log: %q", log.String())
	}
}

// A state file that is gone or damaged falls back to emitting every record
// once, with a warning; without state_dir every restart does.
func TestLostStateFallsBackToFullPass(t *testing.T) {
	for name, spoil := range map[string]func(path string){
		"missing": func(path string) { os.Remove(path) },
		"torn": func(path string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:len(b)/2], 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			a := newAPI(12)
			srv := httptest.NewServer(a)
			defer srv.Close()
			dir := t.TempDir()
			cfg := stateCfg(srv.URL, dir, nil)
			s, _ := openLogged(t, cfg, nil)
			_, pos := drainAck(t, s)
			s.Teardown(context.Background())
			files, _ := filepath.Glob(filepath.Join(dir, "*.seen"))
			if len(files) != 1 {
				t.Fatalf("state files %v", files)
			}
			spoil(files[0])

			s, log := openLogged(t, cfg, pos)
			if got := drain(t, s); !slices.Equal(ids(got), allIDs(12)) {
				t.Fatalf("without its state %v, want every record", ids(got))
			}
			if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "emits every record again") {
				t.Errorf("no warning: %q", log.String())
			}
		})
	}
	t.Run("no state_dir", func(t *testing.T) {
		a := newAPI(12)
		srv := httptest.NewServer(a)
		defer srv.Close()
		cfg := stateCfg(srv.URL, "", nil)
		s, _ := openLogged(t, cfg, nil)
		_, pos := drainAck(t, s)
		s, _ = openLogged(t, cfg, pos)
		if got := drain(t, s); len(got) != 12 {
			t.Fatalf("without state_dir a restart emitted %d records, want all 12", len(got))
		}
	})
}

// deletes: missing turns the ids a complete pass no longer returns into
// deletes, also for records deleted while stopped; off by default; never
// from a pass resumed mid-way (it did not see the records before) or a
// pass that returned nothing.
func TestDeletesMissing(t *testing.T) {
	drop := func(a *api, idx ...int) {
		a.edit(func(cs []contact) []contact {
			var out []contact
			for i, c := range cs {
				if !slices.Contains(idx, i) {
					out = append(out, c)
				}
			}
			return out
		})
	}
	deletes := func(recs []sdk.Record) []string {
		var out []string
		for _, r := range recs {
			if r.Op == sdk.OpDelete {
				out = append(out, r.ID)
			} else {
				out = append(out, "upsert "+r.ID)
			}
		}
		return out
	}
	t.Run("opted in", func(t *testing.T) {
		a := newAPI(12)
		srv := httptest.NewServer(a)
		defer srv.Close()
		dir := t.TempDir()
		cfg := stateCfg(srv.URL, dir, map[string]any{"deletes": "missing"})
		s, _ := openLogged(t, cfg, nil)
		drainAck(t, s)
		drop(a, 3, 9) // c004, c010
		got, pos := drainAck(t, s)
		if want := []string{"c004", "c010"}; !slices.Equal(deletes(got), want) {
			t.Fatalf("got %v, want deletes %v", deletes(got), want)
		}
		if got[0].Position == nil || string(got[0].Payload) != "{}" {
			t.Errorf("delete record %+v", got[0])
		}
		s.Teardown(context.Background())

		drop(a, 0) // c001, while stopped
		s, _ = openLogged(t, cfg, pos)
		got, pos = drainAck(t, s)
		if want := []string{"c001"}; !slices.Equal(deletes(got), want) {
			t.Fatalf("after a restart %v, want deletes %v", deletes(got), want)
		}
		s.Teardown(context.Background())

		// A restart in the middle of a pass: the records before the
		// resume point were not read by this process, so nothing is
		// deleted until a pass from the first page.
		s, _ = openLogged(t, cfg, pos)
		a.edit(func(cs []contact) []contact {
			cs[0].Email = "changed@example.com" // c002, page 1
			return cs
		})
		recs, err := s.Read(context.Background(), 1) // c002, mid page 1
		if err != nil || len(recs) != 1 {
			t.Fatalf("read %v %v", recs, err)
		}
		s.Teardown(context.Background())
		s, _ = openLogged(t, cfg, recs[0].Position)
		if got := restOfPass(t, s); len(got) != 0 {
			t.Fatalf("the rest of a resumed pass emitted %v", deletes(got))
		}

		// Every record gone at once: taken for an API hiccup.
		drop(a, 0, 1, 2, 3, 4, 5, 6, 7, 8)
		s, log := openLogged(t, cfg, recs[0].Position)
		if got := append(drain(t, s), drain(t, s)...); len(got) != 0 {
			t.Fatalf("an empty collection emitted %v", deletes(got))
		}
		if !strings.Contains(log.String(), "returned no records") {
			t.Errorf("no warning for an empty pass: %q", log.String())
		}
	})
	t.Run("off by default", func(t *testing.T) {
		a := newAPI(12)
		srv := httptest.NewServer(a)
		defer srv.Close()
		s, _ := openLogged(t, stateCfg(srv.URL, t.TempDir(), nil), nil)
		drainAck(t, s)
		drop(a, 3)
		if got := drain(t, s); len(got) != 0 {
			t.Fatalf("deleted without opting in: %v", deletes(got))
		}
	})
	t.Run("not with since_param", func(t *testing.T) {
		err := (&Source{}).Configure(context.Background(), stateCfg("http://crm.example", "", map[string]any{"deletes": "missing", "since_param": "updated_since", "updated_at": "updated_at"}))
		if err == nil || !strings.Contains(err.Error(), "since_param") {
			t.Fatalf("config error %v", err)
		}
	})
}
