package bus

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the bus. Labels stay bounded: topics and partitions are few
// and fixed by configuration, never derived from record content.
type metrics struct {
	produceDuration prometheus.Histogram
	produced        *prometheus.CounterVec
	produceErrors   *prometheus.CounterVec
	consumed        *prometheus.CounterVec
	lag             *prometheus.GaugeVec
	up              prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		produceDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "crmhub_bus_produce_duration_seconds",
			Help:    "Time for one Publish call until every message is acknowledged by the brokers (acks=all).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		produced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_bus_messages_produced_total",
			Help: "Messages acknowledged by the brokers, per topic.",
		}, []string{"topic"}),
		produceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_bus_produce_errors_total",
			Help: "Messages the brokers did not acknowledge (Publish returned an error), per topic.",
		}, []string{"topic"}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmhub_bus_messages_consumed_total",
			Help: "Messages fetched by consumers, per consumer group and topic.",
		}, []string{"group", "topic"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmhub_bus_consumer_lag",
			Help: "Messages behind the partition's high watermark as of the last fetch, per consumer group, topic and partition.",
		}, []string{"group", "topic", "partition"}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crmhub_bus_up",
			Help: "1 while the brokers answer a metadata request on a new connection (probed every few seconds and on each /readyz), 0 while they are away: publishing and consuming wait and retry, nothing is dead-lettered.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.produceDuration, err = register(reg, m.produceDuration)
	if err != nil {
		return nil, err
	}
	if m.produced, err = register(reg, m.produced); err != nil {
		return nil, err
	}
	if m.produceErrors, err = register(reg, m.produceErrors); err != nil {
		return nil, err
	}
	if m.consumed, err = register(reg, m.consumed); err != nil {
		return nil, err
	}
	if m.lag, err = register(reg, m.lag); err != nil {
		return nil, err
	}
	if m.up, err = register(reg, m.up); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or reuses the collector already registered under
// the same name, so that a process reopening the bus (tests, restarts of
// the pipeline) keeps counting on the same series.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
