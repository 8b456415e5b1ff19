package sqlconn

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// hashRestartScenario: a hash-mode entity synced, stopped, changed (three
// updates, one of them a child row, two deletes, one insert) and restarted
// from its acknowledged position publishes exactly those six changes.
func hashRestartScenario(t *testing.T, b backend) {
	b = partyBackend(t, b)
	ins := fmt.Sprintf("INSERT INTO parties (code, name) VALUES (%s, %s)", b.ph(1), b.ph(2))
	for _, c := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		b.exec(t, ins, c, "name "+c)
	}
	b.exec(t, fmt.Sprintf("INSERT INTO party_address (id, party_code, city) VALUES (1, %s, 'Essen')", b.ph(1)), "e")
	params := map[string]any{"state_dir": t.TempDir()}
	hash := map[string]any{"change_detection": "hash"}

	s := openPartySource(t, b, hash, params, nil)
	first := drain(t, s, 100)
	if len(first) != 8 {
		t.Fatalf("first pass %v", ids(first))
	}
	s.Ack(context.Background(), first[len(first)-1].Position)
	pos := first[len(first)-1].Position
	s.Teardown(context.Background())

	upd := fmt.Sprintf("UPDATE parties SET name = %s WHERE code = %s", b.ph(1), b.ph(2))
	b.exec(t, upd, "B", "b")
	b.exec(t, upd, "H", "h")
	b.exec(t, "UPDATE party_address SET city = 'Erfurt' WHERE id = 1")
	b.exec(t, "DELETE FROM parties WHERE code IN ('c', 'g')")
	b.exec(t, ins, "a", "name a") // sorts below every key read

	s = openPartySource(t, b, hash, params, pos)
	got := drain(t, s, 100)
	if want := []string{"a", "b", "e", "h", "-c", "-g"}; !slices.Equal(ids(got), want) {
		t.Fatalf("after restart %v, want exactly %v", ids(got), want)
	}
	ps := parties(t, got)
	if ps["b"].Name != "B" || ps["h"].Name != "H" || !slices.Equal(cities(ps["e"]), []string{"Erfurt"}) {
		t.Errorf("changed rows read as %+v", ps)
	}
	last := got[len(got)-1].Position
	// Every record but the pass's last still names the state the restart
	// started from: a restart from one of them re-runs the pass.
	if string(got[0].Position) == string(last) {
		t.Errorf("records before the pass's last carry the new state version: %s", got[0].Position)
	}
	s.Ack(context.Background(), got[0].Position)
	s.Teardown(context.Background())

	// Stopped before the pass's last record was acknowledged: the restart
	// republishes that pass's changes (no-ops in the hub), losing none.
	s = openPartySource(t, b, hash, params, got[0].Position)
	again := drain(t, s, 100)
	if !slices.Equal(ids(again), ids(got)) {
		t.Errorf("restart from mid-pass %v, want %v", ids(again), ids(got))
	}
	last = again[len(again)-1].Position
	s.Ack(context.Background(), last)
	s.Teardown(context.Background())

	// From the pass's last record: nothing changed, nothing published;
	// one state file is left.
	s = openPartySource(t, b, hash, params, last)
	if again := drain(t, s, 100); len(again) != 0 {
		t.Errorf("unchanged table after restart published %v", ids(again))
	}
	files, _ := os.ReadDir(params["state_dir"].(string))
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	if len(names) != 1 || !strings.HasPrefix(names[0], "parties-") {
		t.Errorf("state files %v, want the one the position names", names)
	}
}

func TestHashRestartSQLite(t *testing.T)              { hashRestartScenario(t, sqliteBackend(t)) }
func TestHashRestartPostgresIntegration(t *testing.T) { hashRestartScenario(t, postgresBackend(t)) }
func TestHashRestartMariaDBIntegration(t *testing.T)  { hashRestartScenario(t, mariadbBackend(t)) }

// A state file cut short is refused (the first pass then republishes every
// row) rather than read as a table that lost rows.
func TestHashStateTornFile(t *testing.T) {
	s := &Source{cfg: Config{StateDir: t.TempDir(), Driver: "sqlite", DSN: "x"}}
	e := &entity{cfg: EntityConfig{Name: "p", Table: "p", Key: "id"}}
	rows := map[string]hashRow{"a": {sum: 1}, "b": {sum: 2}}
	if err := s.saveHashState(e, 1, rows); err != nil {
		t.Fatal(err)
	}
	got, err := s.loadHashState(e, 1)
	if err != nil || len(got) != 2 || got["b"].sum != 2 {
		t.Fatalf("round trip %v %v", got, err)
	}
	path := s.hashStateFile(e, 1)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, b[:len(b)-6], 0o644)
	if _, err := s.loadHashState(e, 1); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("torn file: %v", err)
	}
}

// BenchmarkHashState1M saves and loads the state of a million rows with
// 12-character keys, reporting the file's size.
func BenchmarkHashState1M(b *testing.B) {
	s := &Source{cfg: Config{StateDir: b.TempDir(), Driver: "sqlite", DSN: "x"}}
	e := &entity{cfg: EntityConfig{Name: "p", Table: "p", Key: "id"}}
	rows := make(map[string]hashRow, 1_000_000)
	for i := range 1_000_000 {
		rows[fmt.Sprintf("CUST-%07d", i)] = hashRow{sum: uint64(i) * 0x9e3779b97f4a7c15}
	}
	b.Run("save", func(b *testing.B) {
		for b.Loop() {
			if err := s.saveHashState(e, 1, rows); err != nil {
				b.Fatal(err)
			}
		}
		fi, err := os.Stat(s.hashStateFile(e, 1))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fi.Size()), "file-bytes")
	})
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			got, err := s.loadHashState(e, 1)
			if err != nil || len(got) != len(rows) {
				b.Fatal(len(got), err)
			}
		}
	})
}
