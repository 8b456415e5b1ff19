package bus_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// mustCounter finds the counter series name{topic} in reg.
func mustCounter(tb testing.TB, reg *prometheus.Registry, name, topic string) prometheus.Collector {
	tb.Helper()
	g, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	v, ok := counterValue(g, name, map[string]string{"topic": topic})
	if !ok {
		tb.Fatalf("no series %s{topic=%q}", name, topic)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	c.Add(v)
	return c
}

func find(g []*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	for _, f := range g {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metric
				}
			}
			return m
		}
	}
	return nil
}

func counterValue(g []*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	m := find(g, name, labels)
	if m == nil {
		return 0, false
	}
	return m.GetCounter().GetValue(), true
}

func gaugeValue(g []*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	m := find(g, name, labels)
	if m == nil {
		return 0, false
	}
	return m.GetGauge().GetValue(), true
}
