package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub"
)

type metrics struct {
	applied, skipped *prometheus.CounterVec
	blocksSkipped    *prometheus.CounterVec
	created, merged  prometheus.Counter
	duration         prometheus.Histogram
	// SQLite statistics refreshes (stats.go).
	statsTables   prometheus.Counter
	statsDuration prometheus.Histogram
}

// countsCollector serves the store's size gauges from a cached snapshot.
// Counting at every scrape scanned the records table on each one, and
// during a large sync those scans competed with the writer for CPU and
// timed out; a snapshot at most countsMaxAge old is plenty for gauges.
type countsCollector struct {
	s              *Store
	golden, parked *prometheus.Desc
	sources        *prometheus.Desc
	parkedAge      *prometheus.Desc
	age            *prometheus.Desc
	cache          *countsCache
}

func (c *countsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.golden
	ch <- c.parked
	ch <- c.sources
	ch <- c.parkedAge
	ch <- c.age
}

// Collect never fails the scrape: while no count has been taken yet (the
// first one runs long on a large store under load) the gauges are left
// out, and later the last snapshot is served with its age, so a
// dashboard never goes blank when it is needed most.
func (c *countsCollector) Collect(ch chan<- prometheus.Metric) {
	snap, err := c.cache.get()
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, c.cache.now().Sub(snap.at).Seconds())
	ch <- prometheus.MustNewConstMetric(c.golden, prometheus.GaugeValue, float64(snap.counts.GoldenCustomers))
	ch <- prometheus.MustNewConstMetric(c.parked, prometheus.GaugeValue, float64(snap.counts.Parked))
	ch <- prometheus.MustNewConstMetric(c.sources, prometheus.GaugeValue, float64(snap.counts.SourceRecords))
	var age float64
	if !snap.oldest.IsZero() {
		age = time.Since(snap.oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.parkedAge, prometheus.GaugeValue, age)
}

// Cache timings: a snapshot younger than countsMaxAge is served as is,
// unless the store was written since and it is older than countsMinAge;
// otherwise it is refreshed in the background, and a scrape waits at most
// countsWait for that refresh before serving the previous snapshot.
// Both ages are at least countsCost times what the last refresh took: the
// counts scan whole tables, about 5 s of CPU at a million customers, and
// a scrape every 15 s during a sync took a third of a core from applying.
const (
	countsMaxAge  = 5 * time.Second
	countsMinAge  = 2 * time.Second
	countsCost    = 10
	countsWait    = time.Second
	countsTimeout = 30 * time.Second
)

type countsSnapshot struct {
	counts hub.Counts
	oldest time.Time // source timestamp of the oldest parked record
	at     time.Time // when it was taken
}

// countsCache holds the last snapshot and runs at most one refresh at a
// time. A snapshot taken before the last write is refreshed even when
// young, so a scrape right after a quiet Apply sees it.
type countsCache struct {
	load func(ctx context.Context) (countsSnapshot, error)
	now  func() time.Time // time.Now; tests move it by hand

	mu      sync.Mutex
	snap    *countsSnapshot
	took    time.Duration // by the last refresh
	err     error         // of the last refresh
	written time.Time     // last write the snapshot may miss
	running chan struct{} // closed when the refresh under way ends
}

// wrote records that this store instance changed the data; steward
// actions and other instances are seen within countsMaxAge.
func (c *countsCache) wrote() {
	c.mu.Lock()
	c.written = c.now()
	c.mu.Unlock()
}

func (c *countsCache) get() (countsSnapshot, error) {
	c.mu.Lock()
	var fresh bool
	if c.snap != nil {
		age := c.now().Sub(c.snap.at)
		minAge, maxAge := max(countsMinAge, countsCost*c.took), max(countsMaxAge, countsCost*c.took)
		fresh = age < minAge || age < maxAge && c.snap.at.After(c.written)
	}
	if fresh {
		s := *c.snap
		c.mu.Unlock()
		return s, nil
	}
	done := c.running
	if done == nil {
		done = make(chan struct{})
		c.running = done
		go c.refresh(done)
	}
	c.mu.Unlock()
	select {
	case <-done:
	case <-time.After(countsWait):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap == nil {
		if c.err != nil {
			return countsSnapshot{}, c.err
		}
		return countsSnapshot{}, fmt.Errorf("store counts: not ready after %s", countsWait)
	}
	return *c.snap, nil
}

func (c *countsCache) refresh(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), countsTimeout)
	defer cancel()
	start := c.now()
	snap, err := c.load(ctx)
	c.mu.Lock()
	c.took = c.now().Sub(start)
	if err == nil {
		snap.at = start // writes after start may be missing from it
		c.snap = &snap
	}
	c.err = err
	c.running = nil
	c.mu.Unlock()
	close(done)
}

func (s *Store) countsSnapshot(ctx context.Context) (countsSnapshot, error) {
	n, oldest, err := s.counts(ctx)
	return countsSnapshot{counts: n, oldest: oldest}, err
}

func newMetrics(reg prometheus.Registerer, s *Store) (*metrics, error) {
	m := &metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmhub_hub_applied_total",
			Help: "Canonical events written to the store."}, []string{"entity"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmhub_hub_skipped_total",
			Help: "Canonical events skipped: already applied, or older than the stored version."}, []string{"entity"}),
		blocksSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmhub_identity_blocks_skipped_total",
			Help: "Blocking keys of a written customer record whose block was over identity.fuzzy.max_block and not scored, by blocking rule."}, []string{"rule"}),
		created: prometheus.NewCounter(prometheus.CounterOpts{Name: "crmhub_hub_golden_created_total",
			Help: "Golden customers created (or re-activated by a split)."}),
		merged: prometheus.NewCounter(prometheus.CounterOpts{Name: "crmhub_hub_golden_merged_total",
			Help: "Golden customers merged into another."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "crmhub_hub_apply_duration_seconds",
			Help: "Duration of one Apply batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		statsTables:   statsTablesCounter(s.pg),
		statsDuration: statsDurationHistogram(s.pg),
	}
	if reg == nil {
		return m, nil
	}
	cc := &countsCollector{s: s, cache: s.countsCache,
		golden:  prometheus.NewDesc("crmhub_hub_golden_customers", "Active golden customers.", nil, nil),
		parked:  prometheus.NewDesc("crmhub_hub_parked_records", "Orders, payments and cases whose customer has not arrived.", nil, nil),
		sources: prometheus.NewDesc("crmhub_hub_source_customers", "Live source customer records.", nil, nil),
		parkedAge: prometheus.NewDesc("crmhub_hub_parked_oldest_age_seconds",
			"Age of the oldest parked record, by its source timestamp; 0 when none is parked.", nil, nil),
		age: prometheus.NewDesc("crmhub_hub_store_counts_age_seconds",
			"Age of the store counts served (the golden, source, parked gauges): they are refreshed in the background; absent until the first count ends.", nil, nil),
	}
	// The other database's pair is registered too, at zero: one catalog
	// of metric families whatever the store.
	cs := []prometheus.Collector{m.applied, m.skipped, m.blocksSkipped, m.created, m.merged, m.duration, cc,
		m.statsTables, m.statsDuration, statsTablesCounter(!s.pg), statsDurationHistogram(!s.pg)}
	if s.cache != nil {
		cs = append(cs, newCacheCollector(s.cache))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register store metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(b *batch, d time.Duration) {
	for e, n := range b.applied {
		m.applied.WithLabelValues(e).Add(float64(n))
	}
	for e, n := range b.skipped {
		m.skipped.WithLabelValues(e).Add(float64(n))
	}
	for rule, n := range b.blocksSkipped {
		m.blocksSkipped.WithLabelValues(rule).Add(float64(n))
	}
	m.created.Add(float64(b.stats.GoldenCreated))
	m.merged.Add(float64(b.stats.GoldenMerged))
	m.duration.Observe(d.Seconds())
}

// statsTablesCounter and statsDurationHistogram count the store's own
// refreshes of the query planner's statistics (stats.go), named by the
// database: the two differ in what triggers one and what it holds.
func statsTablesCounter(pg bool) prometheus.Counter {
	if pg {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "crmhub_hub_postgres_analyzed_tables_total",
			Help: "Tables the store analyzed on PostgreSQL because they changed by more than 1,000 rows plus the rows they held at their last ANALYZE (its own or autovacuum's): about each time one doubles."})
	}
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "crmhub_hub_sqlite_analyzed_tables_total",
		Help: "Tables whose SQLite query planner statistics were refreshed (ANALYZE, bounded by analysis_limit) because they had none or their size moved about tenfold."})
}

func statsDurationHistogram(pg bool) prometheus.Histogram {
	if pg {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: "crmhub_hub_postgres_analyze_duration_seconds",
			Help: "Duration of one PostgreSQL statistics refresh by the store that analyzed a table (Apply waits for it).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)})
	}
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: "crmhub_hub_sqlite_analyze_duration_seconds",
		Help: "Duration of one refresh of SQLite's query planner statistics that changed them, holding the write lock.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)})
}
