package sqlconn

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// partyDDL is a legacy schema without any change column: parties with text
// keys and their addresses in a child table.
var partyDDL = map[string][]string{
	"sqlite": {`CREATE TABLE parties (code TEXT PRIMARY KEY, name TEXT)`,
		`CREATE TABLE party_address (id INTEGER PRIMARY KEY, party_code TEXT NOT NULL, city TEXT)`},
	"postgres": {`CREATE TABLE parties (code text PRIMARY KEY, name text)`,
		`CREATE TABLE party_address (id bigint PRIMARY KEY, party_code text NOT NULL, city text)`},
	"mysql": {"CREATE TABLE parties (code VARCHAR(20) PRIMARY KEY, name VARCHAR(100) NULL)",
		"CREATE TABLE party_address (id BIGINT PRIMARY KEY, party_code VARCHAR(20) NOT NULL, city VARCHAR(100) NULL)"},
}

func partyBackend(t *testing.T, b backend) backend {
	t.Helper()
	for _, q := range partyDDL[b.driver] {
		b.exec(t, q)
	}
	return b
}

func newPartySource(t *testing.T, b backend, batch int, extra map[string]any) *Source {
	t.Helper()
	return openPartySource(t, b, extra, map[string]any{"batch_size": batch}, nil)
}

// openPartySource opens a source of the parties entity (with extra entity
// settings) and its addresses, with params added to the source's settings,
// at pos.
func openPartySource(t *testing.T, b backend, extra map[string]any, params map[string]any, pos sdk.Position) *Source {
	t.Helper()
	ent := map[string]any{"name": "parties", "table": "parties", "key": "code",
		"children": []any{map[string]any{"name": "addresses", "table": "party_address", "key": "id", "parent_key": "party_code", "order_by": "id"}}}
	for k, v := range extra {
		ent[k] = v
	}
	cfg := sdk.Config{"driver": b.driver, "dsn": b.dsn, "batch_size": 3, "entities": []any{ent}}
	for k, v := range params {
		cfg[k] = v
	}
	s := Connector.NewSource().(*Source)
	ctx := context.Background()
	if err := s.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx, pos); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Teardown(context.Background()) })
	return s
}

// rescanNow makes every hash-mode entity's next pass due.
func (s *Source) rescanNow() {
	for _, e := range s.entities {
		e.hash.done = e.hash.done.AddDate(-1, 0, 0)
	}
}

// party is what a test reads of a parent record.
type party struct {
	Name      string `json:"name"`
	Addresses []struct {
		ID   json.Number `json:"id"`
		City string      `json:"city"`
	} `json:"addresses"`
}

func parties(t *testing.T, recs []sdk.Record) map[string]party {
	t.Helper()
	out := map[string]party{}
	for _, r := range recs {
		if r.Op == sdk.OpDelete {
			continue
		}
		var p party
		if err := json.Unmarshal(r.Payload, &p); err != nil {
			t.Fatalf("payload %s: %v", r.Payload, err)
		}
		out[r.ID] = p
	}
	return out
}

func cities(p party) []string {
	var out []string
	for _, a := range p.Addresses {
		out = append(out, a.City)
	}
	return out
}

// hashScenario: a table without change column, read in pages of two. An
// insert below the last key, an update without timestamp, a deleted row,
// and child inserts, updates and deletes must each publish exactly the
// parents they change, and nothing else.
func hashScenario(t *testing.T, b backend) {
	b = partyBackend(t, b)
	ins := fmt.Sprintf("INSERT INTO parties (code, name) VALUES (%s, %s)", b.ph(1), b.ph(2))
	insA := fmt.Sprintf("INSERT INTO party_address (id, party_code, city) VALUES (%s, %s, %s)", b.ph(1), b.ph(2), b.ph(3))
	for _, c := range []string{"b", "d", "f"} {
		b.exec(t, ins, c, "name "+c)
	}
	b.exec(t, insA, 1, "b", "Berlin")
	b.exec(t, insA, 2, "d", "Dresden")
	b.exec(t, insA, 3, "d", "Duisburg")
	s := newPartySource(t, b, 2, map[string]any{"change_detection": "hash"})

	first := drain(t, s, 100)
	if got := ids(first); !slices.Equal(got, []string{"b", "d", "f"}) {
		t.Fatalf("first pass %v", got)
	}
	ps := parties(t, first)
	if got := cities(ps["d"]); !slices.Equal(got, []string{"Dresden", "Duisburg"}) {
		t.Errorf("d addresses %v (%+v)", got, ps["d"])
	}
	if ps["f"].Addresses == nil || len(ps["f"].Addresses) != 0 {
		t.Errorf("f without children must carry an empty array: %+v", ps["f"])
	}
	// Not due yet, then due but nothing changed: nothing is published.
	if got := drain(t, s, 100); len(got) != 0 {
		t.Fatalf("before the rescan interval: %v", ids(got))
	}
	s.rescanNow()
	if got := drain(t, s, 100); len(got) != 0 {
		t.Fatalf("unchanged table republished %v", ids(got))
	}

	b.exec(t, ins, "a", "name a")                                                                      // sorts below every key read
	b.exec(t, fmt.Sprintf("UPDATE parties SET name = %s WHERE code = %s", b.ph(1), b.ph(2)), "D", "d") // no timestamp anywhere
	b.exec(t, "DELETE FROM parties WHERE code = 'f'")
	b.exec(t, insA, 4, "b", "Bonn") // child insert
	s.rescanNow()
	got := drain(t, s, 100)
	if want := []string{"a", "b", "d", "-f"}; !slices.Equal(ids(got), want) {
		t.Fatalf("after changes %v, want %v", ids(got), want)
	}
	ps = parties(t, got)
	if ps["d"].Name != "D" || !slices.Equal(cities(ps["b"]), []string{"Berlin", "Bonn"}) {
		t.Errorf("changed parents read as %+v", ps)
	}

	// Child update and child delete republish their parent without the row.
	b.exec(t, "UPDATE party_address SET city = 'Bremen' WHERE id = 1")
	b.exec(t, "DELETE FROM party_address WHERE id = 3")
	s.rescanNow()
	got = drain(t, s, 100)
	if want := []string{"b", "d"}; !slices.Equal(ids(got), want) {
		t.Fatalf("after child changes %v, want %v", ids(got), want)
	}
	ps = parties(t, got)
	if !slices.Equal(cities(ps["b"]), []string{"Bremen", "Bonn"}) || !slices.Equal(cities(ps["d"]), []string{"Dresden"}) {
		t.Errorf("children after update/delete: b %v, d %v", cities(ps["b"]), cities(ps["d"]))
	}
}

func TestHashSQLite(t *testing.T)              { hashScenario(t, sqliteBackend(t)) }
func TestHashPostgresIntegration(t *testing.T) { hashScenario(t, postgresBackend(t)) }
func TestHashMariaDBIntegration(t *testing.T)  { hashScenario(t, mariadbBackend(t)) }

func TestHashConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		ent  map[string]any
		want string
	}{
		{"cursor with hash", map[string]any{"change_detection": "hash", "cursor": "updated_at"}, "remove cursor"},
		{"rescan without hash", map[string]any{"rescan_interval": "1m"}, "rescan_interval needs change_detection: hash"},
		{"unknown mode", map[string]any{"change_detection": "diff"}, "want one of"},
		{"child without parent_key", map[string]any{"children": []any{map[string]any{"name": "a", "table": "t", "key": "id"}}}, "parent_key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ent := map[string]any{"name": "p", "table": "p", "key": "id"}
			for k, v := range c.ent {
				ent[k] = v
			}
			err := Connector.NewSource().Configure(context.Background(), sdk.Config{"driver": "sqlite", "dsn": "x.db", "entities": []any{ent}})
			if err == nil || !contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error with %q", err, c.want)
			}
		})
	}
}
