package store

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	applied, skipped *prometheus.CounterVec
	created, merged  prometheus.Counter
	duration         prometheus.Histogram
}

// countsCollector reads Counts at scrape time, so the gauges are never stale.
type countsCollector struct {
	s              *Store
	golden, parked *prometheus.Desc
	sources        *prometheus.Desc
	parkedAge      *prometheus.Desc
}

func (c *countsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.golden
	ch <- c.parked
	ch <- c.sources
	ch <- c.parkedAge
}

func (c *countsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.s.Counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.golden, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.golden, prometheus.GaugeValue, float64(n.GoldenCustomers))
	ch <- prometheus.MustNewConstMetric(c.parked, prometheus.GaugeValue, float64(n.Parked))
	ch <- prometheus.MustNewConstMetric(c.sources, prometheus.GaugeValue, float64(n.SourceRecords))
	oldest, err := c.s.OldestParked(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.parkedAge, err)
		return
	}
	var age float64
	if !oldest.IsZero() {
		age = time.Since(oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.parkedAge, prometheus.GaugeValue, age)
}

func newMetrics(reg prometheus.Registerer, s *Store) (*metrics, error) {
	m := &metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmhub_hub_applied_total",
			Help: "Canonical events written to the store."}, []string{"entity"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmhub_hub_skipped_total",
			Help: "Canonical events skipped: already applied, or older than the stored version."}, []string{"entity"}),
		created: prometheus.NewCounter(prometheus.CounterOpts{Name: "crmhub_hub_golden_created_total",
			Help: "Golden customers created (or re-activated by a split)."}),
		merged: prometheus.NewCounter(prometheus.CounterOpts{Name: "crmhub_hub_golden_merged_total",
			Help: "Golden customers merged into another."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "crmhub_hub_apply_duration_seconds",
			Help: "Duration of one Apply batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
	}
	if reg == nil {
		return m, nil
	}
	cc := &countsCollector{s: s,
		golden:  prometheus.NewDesc("crmhub_hub_golden_customers", "Active golden customers.", nil, nil),
		parked:  prometheus.NewDesc("crmhub_hub_parked_records", "Orders, payments and cases whose customer has not arrived.", nil, nil),
		sources: prometheus.NewDesc("crmhub_hub_source_customers", "Live source customer records.", nil, nil),
		parkedAge: prometheus.NewDesc("crmhub_hub_parked_oldest_age_seconds",
			"Age of the oldest parked record, by its source timestamp; 0 when none is parked.", nil, nil),
	}
	for _, c := range []prometheus.Collector{m.applied, m.skipped, m.created, m.merged, m.duration, cc} {
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
	m.created.Add(float64(b.stats.GoldenCreated))
	m.merged.Add(float64(b.stats.GoldenMerged))
	m.duration.Observe(d.Seconds())
}
