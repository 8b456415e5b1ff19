package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

// The size gauges scan whole tables; a refresh is not started again
// before countsCost times its own duration has passed, however often
// Prometheus scrapes and however busy the writer is.
func TestCountsRefreshBackOffByItsCost(t *testing.T) {
	var (
		mu    sync.Mutex
		now   = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
		loads int
		took  time.Duration
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := &countsCache{now: clock, load: func(context.Context) (countsSnapshot, error) {
		mu.Lock()
		loads++
		n := loads
		now = now.Add(took) // the refresh takes this long
		mu.Unlock()
		var s countsSnapshot
		s.counts.GoldenCustomers = int64(n)
		return s, nil
	}}
	get := func() int64 {
		t.Helper()
		s, err := c.get()
		if err != nil {
			t.Fatal(err)
		}
		return s.counts.GoldenCustomers
	}
	for _, step := range []struct {
		name    string
		took    time.Duration // the next refresh's duration
		advance time.Duration
		write   bool
		want    int64 // which load's snapshot the scrape sees
	}{
		{"first scrape loads", 100 * time.Millisecond, 0, false, 1},
		{"a cheap store: written, 3 s later, refreshed", 100 * time.Millisecond, 3 * time.Second, true, 2},
		{"quiet, 3 s later: served as is", 0, 3 * time.Second, false, 2},
		{"quiet, 6 s later: refreshed (countsMaxAge)", 4 * time.Second, 3 * time.Second, false, 3},
		// The last refresh took 4 s: neither a write nor countsMaxAge
		// starts another before 40 s.
		{"written, 5 s later: served as is", 0, 5 * time.Second, true, 3},
		{"written, 30 s later: still served as is", 0, 25 * time.Second, true, 3},
		{"written, 41 s later: refreshed", 100 * time.Millisecond, 11 * time.Second, true, 4},
		{"cheap again: written, 3 s later, refreshed", 0, 3 * time.Second, true, 5},
	} {
		if step.write {
			c.wrote()
		}
		advance(step.advance)
		mu.Lock()
		took = step.took
		mu.Unlock()
		if got := get(); got != step.want {
			t.Fatalf("%s: the scrape saw load %d, want %d", step.name, got, step.want)
		}
	}
}

// A scrape while the first count still runs (a large store under load)
// succeeds: the size gauges are left out, never the whole scrape failed;
// once counted they are served with their age.
func TestScrapeNeverFailsOnSlowCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := MustOpenSQLite(t, Options{Registerer: reg})
	release := make(chan struct{})
	load := s.countsCache.load
	s.countsCache.load = func(ctx context.Context) (countsSnapshot, error) {
		<-release
		return load(ctx)
	}
	names := func() map[string]bool {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("scrape failed: %v", err)
		}
		out := map[string]bool{}
		for _, mf := range mfs {
			out[mf.GetName()] = true
		}
		return out
	}
	if got := names(); got["crmhub_hub_golden_customers"] || got["crmhub_hub_store_counts_age_seconds"] {
		t.Errorf("gauges served before any count: %v", got)
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for !names()["crmhub_hub_golden_customers"] {
		if time.Now().After(deadline) {
			t.Fatal("the golden gauge never came after the count ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !names()["crmhub_hub_store_counts_age_seconds"] {
		t.Error("no age gauge with the counts")
	}
}

// A block over max_block is skipped, and counted by rule: a pair the
// scorer never saw must show on a dashboard.
func TestSkippedBlocksCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := MustOpenSQLite(t, Options{Registerer: reg,
		Identity: identity.Config{Fuzzy: &identity.FuzzyConfig{MaxBlock: 2}}})
	for i, sys := range []string{"erp", "crm", "shop", "web"} {
		mustApply(t, s, cust(sys, "1", i, hub.Customer{Kind: "person", GivenName: "Anna", FamilyName: "Meier"}))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "crmhub_identity_blocks_skipped_total" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if got["nm"] == 0 {
		t.Errorf("skipped blocks by rule: %v, want nm counted", got)
	}
}

// The record cache's gauges and counters follow the cache: entries and
// bytes as applies fill it, hits as relinking reads the neighbours again,
// the limit as configured.
func TestRecordCacheMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := MustOpenSQLite(t, Options{Registerer: reg, RecordCacheBytes: 1 << 20,
		Identity: identity.Config{Fuzzy: &identity.FuzzyConfig{}}})
	for i, sys := range []string{"erp", "crm", "shop", "web"} {
		mustApply(t, s, cust(sys, "1", i, hub.Customer{Kind: "person", GivenName: "Anna", FamilyName: "Meier"}))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				got[mf.GetName()] = c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				got[mf.GetName()] = g.GetValue()
			}
		}
	}
	hits, _ := s.cache.stats()
	if got["crmhub_store_record_cache_entries"] != float64(s.cache.len()) || s.cache.len() == 0 {
		t.Errorf("entries %v, cache holds %d", got["crmhub_store_record_cache_entries"], s.cache.len())
	}
	if got["crmhub_store_record_cache_bytes"] != float64(s.cache.size()) || s.cache.size() == 0 {
		t.Errorf("bytes %v, cache %d", got["crmhub_store_record_cache_bytes"], s.cache.size())
	}
	if got["crmhub_store_record_cache_limit_bytes"] != 1<<20 {
		t.Errorf("limit %v, want %d", got["crmhub_store_record_cache_limit_bytes"], 1<<20)
	}
	if got["crmhub_store_record_cache_hits_total"] != float64(hits) || hits == 0 {
		t.Errorf("hits %v, cache counted %d", got["crmhub_store_record_cache_hits_total"], hits)
	}
	if _, ok := got["crmhub_store_record_cache_misses_total"]; !ok {
		t.Error("no misses counter")
	}
}
