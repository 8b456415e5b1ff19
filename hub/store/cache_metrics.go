package store

import "github.com/prometheus/client_golang/prometheus"

// cacheCollector exports the parsed-record cache, so that a memory_mb too
// small for the store's working set shows as a falling hit ratio and a
// cache pinned at its limit, not only as slower applies. It reads a few
// counters under the cache's lock: never a query, never slow.
type cacheCollector struct {
	cache                               *recordCache
	bytes, limit, entries, hits, misses *prometheus.Desc
}

func newCacheCollector(c *recordCache) *cacheCollector {
	return &cacheCollector{cache: c,
		bytes:   prometheus.NewDesc("crmhub_store_record_cache_bytes", "Estimated heap held by the parsed-record cache.", nil, nil),
		limit:   prometheus.NewDesc("crmhub_store_record_cache_limit_bytes", "Bound of the parsed-record cache in bytes (from memory_mb); 0: none.", nil, nil),
		entries: prometheus.NewDesc("crmhub_store_record_cache_entries", "Parsed customer records in the cache.", nil, nil),
		hits:    prometheus.NewDesc("crmhub_store_record_cache_hits_total", "Record reads answered by the parsed-record cache.", nil, nil),
		misses:  prometheus.NewDesc("crmhub_store_record_cache_misses_total", "Record reads the parsed-record cache could not answer (decoded from the store).", nil, nil),
	}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytes, c.limit, c.entries, c.hits, c.misses} {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	c.cache.mu.Lock()
	bytes, limit, entries, hits, misses := c.cache.bytes, c.cache.maxBytes, c.cache.lru.Len(), c.cache.hits, c.cache.miss
	c.cache.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(bytes))
	ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(limit))
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(entries))
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(hits))
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(misses))
}
