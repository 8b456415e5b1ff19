package store

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

func TestRecordCacheEvictsAndValidates(t *testing.T) {
	c := newRecordCache(2)
	rec := func(id string) identity.Record {
		return identity.Record{System: "crm", SourceEntity: "customers", SourceID: id}
	}
	c.put("a", "e1", rec("a"))
	c.put("b", "e1", rec("b"))
	if _, ok := c.get("a", "e1"); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put("c", "e1", rec("c")) // evicts b, the least recently used
	tests := []struct {
		key, event string
		want       bool
	}{
		{"a", "e1", true},
		{"b", "e1", false},
		{"c", "e1", true},
		{"a", "e2", false}, // another version of a: never served
	}
	for _, tt := range tests {
		if _, ok := c.get(tt.key, tt.event); ok != tt.want {
			t.Errorf("get(%s, %s) = %v, want %v", tt.key, tt.event, ok, tt.want)
		}
	}
	if n := c.len(); n != 2 {
		t.Errorf("len = %d, want the cap 2", n)
	}
	c.drop([]string{"a"})
	if _, ok := c.get("a", "e1"); ok {
		t.Error("dropped entry still served")
	}
}

// Two stores on one database file: a version the other instance wrote must
// not be resolved from the first one's cache.
func TestRecordCacheSeesOtherWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	a, b := mustOpen(t, DriverSQLite, path, Options{}), mustOpen(t, DriverSQLite, path, Options{})
	mustApply(t, a, cust("crm", "c1", 1, hub.Customer{FullName: "Ada Lovelace", Emails: []string{"old@example.org"}}))
	mustApply(t, b, cust("crm", "c1", 2, hub.Customer{FullName: "Ada Lovelace", Emails: []string{"new@example.org"}}))
	mustApply(t, a, cust("erp", "e1", 3, hub.Customer{FamilyName: "Lovelace", Emails: []string{"new@example.org"}}))
	got, err := a.FindCustomers(context.Background(), hub.CustomerFilter{Email: "new@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Sources) != 2 {
		t.Fatalf("want one golden customer of both records, got %+v", got)
	}
	if want := []string{"new@example.org"}; !reflect.DeepEqual(got[0].Customer.Emails, want) {
		t.Errorf("golden emails = %v, want %v (a stale cached version was used)", got[0].Customer.Emails, want)
	}
}

// With and without the cache, the same events end in the same golden state.
func TestRecordCacheSameResult(t *testing.T) {
	evs := benchEvents(600)
	// Second versions of some records, so cached entries go stale.
	for i := 0; i < 600; i += 7 {
		e := evs[i]
		if e.Entity != hub.EntityCustomer {
			continue
		}
		evs = append(evs, cust(e.System, e.SourceID, 10, hub.Customer{FamilyName: "Moved", Emails: []string{fmt.Sprintf("m%d@example.org", i%40)}}))
	}
	var states [][]hub.CustomerView
	for _, size := range []int{-1, 0, 50} {
		s := MustOpenSQLite(t, Options{Identity: fuzzyOpts.Identity, RecordCache: size})
		for i := 0; i < len(evs); i += 97 {
			mustApply(t, s, evs[i:min(i+97, len(evs))]...)
		}
		states = append(states, snapshot(t, s))
		if size > 0 && s.cache.len() > size {
			t.Errorf("cache holds %d records, cap %d", s.cache.len(), size)
		}
		if size == 0 {
			if h, _ := s.cache.stats(); h == 0 {
				t.Error("cache never hit")
			}
		}
	}
	for i := 1; i < len(states); i++ {
		if !reflect.DeepEqual(states[0], states[i]) {
			t.Errorf("golden state with cache setting %d differs from without cache", i)
		}
	}
}
