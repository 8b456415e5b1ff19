package store

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub"
)

// Match keys and search values are deleted through the list their owner's
// row keeps (migration 0011), not through an index by owner: a list that
// went stale would leave a record matching on an e-mail it no longer has.
func TestOwnedRowsFollowTheirOwnerSQLite(t *testing.T) {
	testOwnedRows(t, MustOpenSQLite(t, Options{}))
}

func TestOwnedRowsFollowTheirOwnerPostgresIntegration(t *testing.T) {
	testOwnedRows(t, MustOpenPostgres(t, Options{}))
}

func testOwnedRows(t *testing.T, s *Store) {
	ctx := context.Background()
	rkey := "crm/customers/c1"
	keys := func() []string {
		t.Helper()
		got, err := s.strings(ctx, s.db, `SELECT mkey FROM match_keys WHERE rkey = ? ORDER BY mkey`, rkey)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	attrs := func(golden string) []string {
		t.Helper()
		got, err := s.strings(ctx, s.db, `SELECT attr || '=' || value FROM golden_attrs WHERE golden_id = ? ORDER BY attr, value`, golden)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	find := func(email string) int {
		t.Helper()
		got, err := s.FindCustomers(ctx, hub.CustomerFilter{Email: email, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}

	mustApply(t, s, cust("crm", "c1", 1, hub.Customer{FamilyName: "Weber", Emails: []string{"old@example.de"}, Phones: []string{"+49 30 1234567"}}))
	if k := keys(); !slices.Contains(k, "person|email:old@example.de") || !slices.Contains(k, "person|phone:+49301234567") {
		t.Fatalf("match keys after the first version: %v", k)
	}
	var golden string
	if err := s.db.QueryRowContext(ctx, `SELECT golden_id FROM records WHERE rkey = 'crm/customers/c1'`).Scan(&golden); err != nil {
		t.Fatal(err)
	}
	if a := attrs(golden); !slices.Contains(a, "email=old@example.de") {
		t.Fatalf("search values after the first version: %v", a)
	}

	// The e-mail changes, the phone stays: the old e-mail's rows go, the
	// phone's stay, and nothing is written twice.
	mustApply(t, s, cust("crm", "c1", 2, hub.Customer{FamilyName: "Weber", Emails: []string{"new@example.de"}, Phones: []string{"+49 30 1234567"}}))
	k := keys()
	if slices.Contains(k, "person|email:old@example.de") || !slices.Contains(k, "person|email:new@example.de") || !slices.Contains(k, "person|phone:+49301234567") {
		t.Fatalf("match keys after the e-mail changed: %v", k)
	}
	a := attrs(golden)
	if slices.Contains(a, "email=old@example.de") || !slices.Contains(a, "email=new@example.de") {
		t.Fatalf("search values after the e-mail changed: %v", a)
	}
	if n := find("old@example.de"); n != 0 {
		t.Errorf("the old e-mail still finds %d customers", n)
	}
	if n := find("new@example.de"); n != 1 {
		t.Errorf("the new e-mail finds %d customers, want 1", n)
	}
	// A record arriving with the old e-mail is not pulled in by a key the
	// first record no longer has.
	mustApply(t, s, cust("erp", "K9", 3, hub.Customer{FamilyName: "Other", Emails: []string{"old@example.de"}}))
	var other string
	if err := s.db.QueryRowContext(ctx, `SELECT golden_id FROM records WHERE rkey = 'erp/customers/K9'`).Scan(&other); err != nil {
		t.Fatal(err)
	}
	if other == golden {
		t.Errorf("a record with the old e-mail joined %s", golden)
	}

	// Deleted: no keys left, the retired golden customer is found by
	// nothing.
	mustApply(t, s, del(hub.EntityCustomer, "crm", "customers", "c1", 4))
	if k := keys(); len(k) != 0 {
		t.Errorf("match keys of a deleted record: %v", k)
	}
	if a := attrs(golden); len(a) != 0 {
		t.Errorf("search values of a retired golden customer: %v", a)
	}
	if n := find("new@example.de"); n != 0 {
		t.Errorf("a retired golden customer is still found (%d)", n)
	}
	// Back again: its keys and values return.
	mustApply(t, s, cust("crm", "c1", 5, hub.Customer{FamilyName: "Weber", Emails: []string{"new@example.de"}}))
	if k := keys(); !slices.Contains(k, "person|email:new@example.de") {
		t.Errorf("match keys after the record came back: %v", k)
	}
	if n := find("new@example.de"); n != 1 {
		t.Errorf("the record that came back is found by %d customers, want 1", n)
	}
}

// The deletes by a list of (key, owner) pairs must seek the primary key:
// there is no other index on these tables any more, and a scan costs
// seconds a batch at a million customers. (SQLite 3.40 planned "(a, b) IN
// (VALUES ...)" as a scan; the version bundled here seeks.)
func TestOwnedRowDeletesSeekThePrimaryKey(t *testing.T) {
	s := MustOpenSQLite(t, Options{})
	for _, c := range []struct {
		d     rowDelete
		table string
		row   []any
	}{
		{dropMatchKeys, "match_keys", []any{"k", "r"}},
		{dropSearchValues, "golden_attrs", []any{"a", "v", "g"}},
	} {
		sts := s.rowStatements(c.d.head, c.d.types, c.d.tail, [][]any{c.row, c.row})
		p := queryPlan(t, s.db, sts[0].query, sts[0].args...)
		if !strings.Contains(p, "SEARCH "+c.table+" USING PRIMARY KEY") || strings.Contains(p, "SCAN "+c.table) {
			t.Errorf("%s: the delete does not seek the primary key: %s", c.table, p)
		}
	}
}
