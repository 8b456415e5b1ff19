package sqlconn

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// t3b is between t3 and t4.
const t3b = "2024-03-01 12:30:00"

var addressDDL = map[string]string{
	"sqlite":   `CREATE TABLE customer_address (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, city TEXT, updated_at DATETIME NOT NULL)`,
	"postgres": `CREATE TABLE customer_address (id bigint PRIMARY KEY, customer_id bigint NOT NULL, city text, updated_at timestamp(6) NOT NULL)`,
	"mysql":    "CREATE TABLE customer_address (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, city VARCHAR(100) NULL, updated_at DATETIME(6) NOT NULL)",
}

// childCursorScenario: with cursor polling, customers carry their
// addresses; an address updated or inserted (its own cursor moving, the
// customer's not) republishes the customer with its current addresses.
func childCursorScenario(t *testing.T, b backend) {
	b.exec(t, addressDDL[b.driver])
	insA := fmt.Sprintf("INSERT INTO customer_address (id, customer_id, city, updated_at) VALUES (%s, %s, %s, %s)", b.ph(1), b.ph(2), b.ph(3), b.ph(4))
	b.insert(t, 1, "one", t1)
	b.insert(t, 2, "two", t1)
	b.insert(t, 3, "three", t1)
	b.exec(t, insA, 10, 1, "Berlin", t1)
	b.exec(t, insA, 11, 2, "Bonn", t1)
	s := newSource(t, b, nil, 2, map[string]any{"children": []any{map[string]any{
		"name": "addresses", "table": "customer_address", "key": "id", "parent_key": "customer_id", "cursor": "updated_at"}}})

	first := drain(t, s, 100)
	if got := ids(first); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("snapshot %v", got)
	}
	ps := parties(t, first)
	if !slices.Equal(cities(ps["1"]), []string{"Berlin"}) || !slices.Equal(cities(ps["2"]), []string{"Bonn"}) || len(cities(ps["3"])) != 0 {
		t.Fatalf("snapshot children %+v", ps)
	}

	b.exec(t, fmt.Sprintf("UPDATE customer_address SET city = 'Bremen', updated_at = %s WHERE id = 10", b.ph(1)), t2)
	got := drain(t, s, 100)
	if !slices.Equal(ids(got), []string{"1"}) || !slices.Equal(cities(parties(t, got)["1"]), []string{"Bremen"}) {
		t.Fatalf("after child update %v %+v", ids(got), parties(t, got))
	}

	b.exec(t, insA, 12, 2, "Köln", t3)
	b.exec(t, insA, 13, 3, "Essen", t3)
	got = drain(t, s, 100)
	ps = parties(t, got)
	if !slices.Equal(ids(got), []string{"2", "3"}) || !slices.Equal(cities(ps["2"]), []string{"Bonn", "Köln"}) || !slices.Equal(cities(ps["3"]), []string{"Essen"}) {
		t.Fatalf("after child inserts %v %+v", ids(got), ps)
	}
	if got := drain(t, s, 100); len(got) != 0 {
		t.Fatalf("caught up, yet read %v", ids(got))
	}

	// Stopped, an address changes: the restarted source polls the
	// children from the cursor its position saved, not from their
	// highest value at the restart, so the parent is republished.
	pos := got[len(got)-1].Position
	s.Teardown(context.Background())
	b.exec(t, fmt.Sprintf("UPDATE customer_address SET city = 'Bonn-Beuel', updated_at = %s WHERE id = 11", b.ph(1)), t3b)
	s = newSource(t, b, pos, 2, map[string]any{"children": []any{map[string]any{
		"name": "addresses", "table": "customer_address", "key": "id", "parent_key": "customer_id", "cursor": "updated_at"}}})
	got = drain(t, s, 100)
	if !slices.Equal(ids(got), []string{"2"}) || !slices.Equal(cities(parties(t, got)["2"]), []string{"Bonn-Beuel", "Köln"}) {
		t.Fatalf("child changed while stopped: %v %+v", ids(got), parties(t, got))
	}

	// A parent whose own cursor moves is read with its children too.
	b.touch(t, 1, t4)
	got = drain(t, s, 100)
	if !slices.Equal(ids(got), []string{"1"}) || !slices.Equal(cities(parties(t, got)["1"]), []string{"Bremen"}) {
		t.Fatalf("parent update %v %s", ids(got), got[0].Payload)
	}

	// A page holding only a (soft) delete has no children to read.
	b.exec(t, fmt.Sprintf("UPDATE customers SET deleted = %s, updated_at = %s WHERE id = 3", b.ph(1), b.ph(2)), true, t4)
	if got := drain(t, s, 100); !slices.Equal(ids(got), []string{"-3"}) {
		t.Fatalf("soft delete of a parent read as %v", ids(got))
	}
}

func TestChildCursorSQLite(t *testing.T)              { childCursorScenario(t, sqliteBackend(t)) }
func TestChildCursorPostgresIntegration(t *testing.T) { childCursorScenario(t, postgresBackend(t)) }
func TestChildCursorMariaDBIntegration(t *testing.T)  { childCursorScenario(t, mariadbBackend(t)) }

// TestChildrenManyParentsSQLite: a page of more parents than one IN list
// holds still gets every parent's children.
func TestChildrenManyParentsSQLite(t *testing.T) {
	b := partyBackend(t, sqliteBackend(t))
	tx, err := b.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	n := maxInList + 50
	for i := range n {
		code := fmt.Sprintf("p%05d", i)
		if _, err := tx.Exec("INSERT INTO parties (code, name) VALUES (?, ?)", code, code); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("INSERT INTO party_address (id, party_code, city) VALUES (?, ?, ?)", i, code, "c"+code); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	s := newPartySource(t, b, 2*n, map[string]any{"change_detection": "hash"})
	got := drain(t, s, 2*n)
	ps := parties(t, got)
	if len(got) != n || len(ps) != n {
		t.Fatalf("read %d records, %d parents; want %d", len(got), len(ps), n)
	}
	for id, p := range ps {
		if !slices.Equal(cities(p), []string{"c" + id}) {
			t.Fatalf("%s has addresses %v", id, cities(p))
		}
	}
}
