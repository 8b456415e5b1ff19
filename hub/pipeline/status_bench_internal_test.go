package pipeline

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// statusMetrics is a hub's metrics with n connectors of 3 entities each
// that read, mapped, dead-lettered and set a lag, as GET /v1/connectors
// finds them.
func statusMetrics(n int) *Metrics {
	m := NewMetrics(prometheus.NewRegistry())
	m.Progress.set = map[string]*sourceProgress{}
	for i := range n {
		c := fmt.Sprintf("c%d", i)
		m.Progress.set[c] = &sourceProgress{st: SourceStatus{Connector: c}}
		for _, e := range []string{"customers", "orders", "payments"} {
			m.Read.WithLabelValues(c, e).Add(1000)
			m.Mapped.WithLabelValues(c, e).Add(990)
			m.DeadLetters.WithLabelValues(c, "mapping_error").Add(10)
			m.SourceLag.WithLabelValues(c, e).Set(42)
		}
	}
	return m
}

// BenchmarkStatusFigures is what one poll of the console's status page
// costs the hub in figures: the progress snapshot (counts from the
// counters) and every connector's source lag from its gauge.
func BenchmarkStatusFigures(b *testing.B) {
	m := statusMetrics(4)
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range m.Progress.Snapshot(m) {
			if _, ok := m.SourceLagOf(s.Connector); !ok {
				b.Fatal("no lag")
			}
		}
	}
}

// TestStatusFiguresAreTheMetrics: the snapshot's counts and the lag are
// the values of the collectors /metrics serves.
func TestStatusFiguresAreTheMetrics(t *testing.T) {
	m := statusMetrics(2)
	m.SourceLag.WithLabelValues("c1", "orders").Set(99)
	for _, s := range m.Progress.Snapshot(m) {
		if s.Read != 3000 || s.Mapped != 2970 || s.DeadLettered != 30 {
			t.Errorf("%s: read %d mapped %d dead-lettered %d; want 3000, 2970, 30", s.Connector, s.Read, s.Mapped, s.DeadLettered)
		}
	}
	if lag, ok := m.SourceLagOf("c1"); !ok || lag != 99 {
		t.Errorf("c1 lag %v %v, want the largest, 99", lag, ok)
	}
	if _, ok := m.SourceLagOf("none"); ok {
		t.Error("a lag for a connector without batches")
	}
}
