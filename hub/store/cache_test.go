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
	c := newRecordCache(2, 0)
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
	t.Parallel() // long and self-contained: see "Parallel tests" in helpers_test.go
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

// The cache is bounded by the estimated heap of its entries: records of
// any shape fill it to its byte cap, never past it, and a record larger
// than the whole cache is not kept.
func TestRecordCacheBoundedInBytes(t *testing.T) {
	small := identity.Record{System: "crm", SourceEntity: "customers", Customer: hub.Customer{FullName: "Ada Lovelace"}}
	large := small
	large.Customer.Addresses = make([]hub.Address, 40)
	for i := range large.Customer.Addresses {
		large.Customer.Addresses[i] = hub.Address{Street: fmt.Sprintf("%d Long Street of the Village of Somewhere", i), City: "Somewhere"}
	}
	smallSize, largeSize := recordBytes("k", "e", &small), recordBytes("k", "e", &large)
	if largeSize < 10*smallSize {
		t.Fatalf("recordBytes: large record %d bytes, small %d: the estimate ignores slices", largeSize, smallSize)
	}
	tests := []struct {
		name     string
		rec      identity.Record
		maxBytes int64
		wantMin  int // entries at least kept
	}{
		{"small records", small, 100 * smallSize, 90},
		{"large records", large, 5 * largeSize, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newRecordCache(0, tt.maxBytes)
			for i := 0; i < 1000; i++ {
				c.put(fmt.Sprintf("k%04d", i), "e", tt.rec)
				if c.size() > tt.maxBytes {
					t.Fatalf("after %d puts: %d bytes cached, cap %d", i+1, c.size(), tt.maxBytes)
				}
			}
			if n := c.len(); n < tt.wantMin || n > 200 {
				t.Errorf("%d entries kept, want %d to 200", n, tt.wantMin)
			}
			if _, ok := c.get("k0999", "e"); !ok {
				t.Error("the most recent entry was evicted")
			}
			c.drop([]string{"k0999"})
			var sum int64
			for el := c.lru.Front(); el != nil; el = el.Next() {
				sum += el.Value.(*cacheEntry).size
			}
			if sum != c.size() {
				t.Errorf("accounted %d bytes, entries hold %d", c.size(), sum)
			}
		})
	}
	c := newRecordCache(0, smallSize*3)
	c.put("big", "e", large)
	if c.len() != 0 || c.size() != 0 {
		t.Errorf("a record larger than the cache was kept: %d entries, %d bytes", c.len(), c.size())
	}
}
