package pipeline

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the pipeline's counters. Labels are bounded: connector
// instance, entity, mapping name and reason class, never record ids.
type Metrics struct {
	Read        *prometheus.CounterVec
	Mapped      *prometheus.CounterVec
	Dropped     *prometheus.CounterVec
	DeadLetters *prometheus.CounterVec
	Published   *prometheus.CounterVec
	BatchTime   *prometheus.HistogramVec
	SourceLag   *prometheus.GaugeVec

	Consumed   *prometheus.CounterVec
	ApplyError *prometheus.CounterVec
	Freshness  *prometheus.HistogramVec
	Latency    *prometheus.HistogramVec

	GoldenTooLarge *prometheus.CounterVec
	ApplierPaused  prometheus.Gauge
	PublishBlocked *prometheus.GaugeVec
	ValuesDropped  *prometheus.CounterVec
	// Progress is each source's reading progress (progress.go).
	Progress *Progress
}

// NewMetrics registers the pipeline metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Read: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_pipeline_records_read_total", Help: "Records read from a connector, by source entity.",
		}, []string{"connector", "entity"}),
		Mapped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_pipeline_records_mapped_total", Help: "Records mapped to a canonical record.",
		}, []string{"connector", "mapping"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_pipeline_records_dropped_total", Help: "Records skipped on purpose by a mapping's drop_if.",
		}, []string{"connector", "mapping"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_pipeline_dead_letters_total", Help: "Records sent to the dead-letter topic, by reason class.",
		}, []string{"connector", "reason_class"}),
		Published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_pipeline_records_published_total", Help: "Canonical records acknowledged by Kafka.",
		}, []string{"connector", "entity"}),
		BatchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crmhub_pipeline_batch_duration_seconds", Help: "Time from a batch read to its position being checkpointed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"connector"}),
		SourceLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmhub_pipeline_source_lag_seconds", Help: "Read time minus the newest source updated-at seen in the last batch.",
		}, []string{"connector", "entity"}),
		Consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_hub_consumed_total", Help: "Canonical records consumed from Kafka by the hub.",
		}, []string{"entity"}),
		ApplyError: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_hub_apply_errors_total", Help: "Apply failures: retried (store unavailable) or dead-lettered (bad record).",
		}, []string{"kind"}),
		Freshness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crmhub_hub_freshness_seconds", Help: "End-to-end freshness: applied time minus the source's own updated-at (large for a first snapshot of old data).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 14),
		}, []string{"entity"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crmhub_hub_pipeline_latency_seconds", Help: "Applied time minus the time the connector read the record.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}, []string{"entity"}),
		GoldenTooLarge: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_golden_too_large_total", Help: "Golden states over the golden topic's message size limit: published without their sources (bounded=sources) or not published (skipped).",
		}, []string{"how"}),
		ApplierPaused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crmhub_hub_applier_paused", Help: "1 while the applier waits for the store (read-only, full, locked, unreachable): nothing is applied and nothing dead-lettered until it is back; /readyz says why.",
		}),
		PublishBlocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmhub_pipeline_publish_blocked", Help: "1 while a connector's batch waits for Kafka to take it (the broker away or refusing); it is retried with backoff, never skipped.",
		}, []string{"connector"}),
		ValuesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_mapping_values_dropped_total", Help: "Source values a mapping left out because its cleaner could not read them (a phone, an e-mail, a country), also inside map() and filter(), by mapping, target field and reason (the cleaner and why, e.g. \"phone: unknown region\"); the record itself goes on.",
		}, []string{"mapping", "field", "reason"}),
	}
	m.Progress = &Progress{}
	reg.MustRegister(m.Read, m.Mapped, m.Dropped, m.DeadLetters, m.Published, m.BatchTime,
		m.SourceLag, m.Consumed, m.ApplyError, m.Freshness, m.Latency, m.GoldenTooLarge, m.ApplierPaused, m.PublishBlocked, m.ValuesDropped)
	return m
}
