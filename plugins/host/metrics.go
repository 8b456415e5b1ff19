package host

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are per instance: label connector is the configured instance
// name, plugin the connector it runs. Both are bounded by configuration.
type metrics struct {
	recordsRead    *prometheus.CounterVec
	recordsWritten *prometheus.CounterVec
	bytesRead      *prometheus.CounterVec
	batches        *prometheus.CounterVec
	errors         *prometheus.CounterVec
	restarts       *prometheus.CounterVec
	up             *prometheus.GaugeVec
	lastSuccess    *prometheus.GaugeVec
	readDuration   *prometheus.HistogramVec
}

var labels = []string{"connector", "plugin"}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		recordsRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_connector_records_read_total", Help: "Records read from a source instance.",
		}, labels),
		recordsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_connector_records_written_total", Help: "Records written to a destination instance.",
		}, labels),
		bytesRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_connector_bytes_read_total", Help: "Payload bytes read from a source instance.",
		}, labels),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_connector_batches_total", Help: "Non-empty batches read or written.",
		}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_connector_errors_total", Help: "Failed connector calls, crashes included.",
		}, labels),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_connector_restarts_total", Help: "Plugin process restarts after a crash.",
		}, labels),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmhub_connector_up", Help: "1 while the instance is running, 0 when restarting, failed or stopped.",
		}, labels),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmhub_connector_last_success_timestamp_seconds", Help: "Unix time of the last successful read or write; time() minus it is the time since.",
		}, labels),
		readDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crmhub_connector_read_duration_seconds", Help: "Latency of one Read call, plugin hop included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, labels),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.recordsRead, m.recordsWritten, m.bytesRead, m.batches, m.errors, m.restarts, m.up, m.lastSuccess, m.readDuration} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				// A second Host on the same registry (tests, reload) shares
				// the collectors already there.
				if err := adopt(m, are.ExistingCollector, c); err != nil {
					return nil, err
				}
				continue
			}
			return nil, err
		}
	}
	return m, nil
}

func adopt(m *metrics, existing, mine prometheus.Collector) error {
	switch mine {
	case m.recordsRead:
		return set(&m.recordsRead, existing)
	case m.recordsWritten:
		return set(&m.recordsWritten, existing)
	case m.bytesRead:
		return set(&m.bytesRead, existing)
	case m.batches:
		return set(&m.batches, existing)
	case m.errors:
		return set(&m.errors, existing)
	case m.restarts:
		return set(&m.restarts, existing)
	case m.up:
		return set(&m.up, existing)
	case m.lastSuccess:
		return set(&m.lastSuccess, existing)
	case m.readDuration:
		return set(&m.readDuration, existing)
	}
	return nil
}

func set[T prometheus.Collector](dst *T, existing prometheus.Collector) error {
	c, ok := existing.(T)
	if !ok {
		return errors.New("register connector metrics: a different collector has the same name")
	}
	*dst = c
	return nil
}

// instMetrics are one instance's children, resolved once.
type instMetrics struct {
	recordsRead, recordsWritten, bytesRead, batches, errors, restarts prometheus.Counter
	up, lastSuccess                                                   prometheus.Gauge
	readDuration                                                      prometheus.Observer
}

func (m *metrics) forInstance(instance, plugin string) instMetrics {
	return instMetrics{
		recordsRead:    m.recordsRead.WithLabelValues(instance, plugin),
		recordsWritten: m.recordsWritten.WithLabelValues(instance, plugin),
		bytesRead:      m.bytesRead.WithLabelValues(instance, plugin),
		batches:        m.batches.WithLabelValues(instance, plugin),
		errors:         m.errors.WithLabelValues(instance, plugin),
		restarts:       m.restarts.WithLabelValues(instance, plugin),
		up:             m.up.WithLabelValues(instance, plugin),
		lastSuccess:    m.lastSuccess.WithLabelValues(instance, plugin),
		readDuration:   m.readDuration.WithLabelValues(instance, plugin),
	}
}
