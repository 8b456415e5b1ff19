package writeback

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of write-back; labels are bounded (target names, fixed results
// and reasons).
type Metrics struct {
	Records *prometheus.CounterVec // target, result: written | failed
	Skipped *prometheus.CounterVec // target, reason
}

// Skip reasons.
const (
	SkipUnchanged   = "unchanged"     // the ledger's hash equals: crmhub wrote these values already
	SkipSystemHas   = "system_has"    // the system's own record already holds the values
	SkipNotInTarget = "not_in_target" // the golden customer has no record in the system and create is off
	SkipNoFields    = "no_fields"     // the reverse mapping produced no allow-listed field
	SkipMapping     = "mapping_error" // the reverse mapping failed (dead-lettered)
	// SkipConflict: the destination refused the write because the target
	// record changed since the version crmhub saw (see sdk.ConflictPrefix);
	// not recorded in the ledger; retried from the store's state until the
	// hub has read the system's edit (Writer.States).
	SkipConflict = "conflict"
	// SkipSystemKept: a field changed in the system after the hub's last
	// read differs from the golden value and stays, by the target's
	// conflict policy (Target.OnConflict).
	SkipSystemKept = "system_kept"
	// SkipSteward: a conflict was handed to a steward (policy steward, or
	// the retries were spent).
	SkipSteward = "steward"
)

// NewMetrics registers the write-back metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmhub_writeback_records_total",
			Help: "Records written back to target systems, by target and result (written, failed)."}, []string{"target", "result"}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmhub_writeback_skipped_total",
			Help: "Golden states not written to a target record, by target and reason (unchanged, system_has, system_kept, not_in_target, no_fields, mapping_error, conflict, steward)."}, []string{"target", "reason"}),
	}
	reg.MustRegister(m.Records, m.Skipped)
	return m
}

// totalsCollector serves the store's write-back totals (TotalsLog) as
// gauges: unlike the counters they survive restarts and every instance on
// one store reports the same figure (aggregate with max, as the other store
// gauges).
type totalsCollector struct {
	log              TotalsLog
	records, skipped *prometheus.Desc
}

// RegisterTotals registers gauges of the totals tl keeps:
// crmhub_writeback_records_stored{target,result} and
// crmhub_writeback_skipped_stored{target,reason}.
func RegisterTotals(reg prometheus.Registerer, tl TotalsLog) {
	reg.MustRegister(&totalsCollector{log: tl,
		records: prometheus.NewDesc("crmhub_writeback_records_stored",
			"Records written back since the store was created, by target and result, from the store (kept across restarts; the same on every instance).", []string{"target", "result"}, nil),
		skipped: prometheus.NewDesc("crmhub_writeback_skipped_stored",
			"Golden states not written to a target record since the store was created, by target and reason, from the store.", []string{"target", "reason"}, nil),
	})
}

func (c *totalsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.records
	ch <- c.skipped
}

func (c *totalsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	all, err := c.log.Totals(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.records, err)
		return
	}
	for target, names := range all {
		for name, n := range names {
			kind, label, _ := strings.Cut(name, "/")
			d := c.skipped
			if kind == "records" {
				d = c.records
			}
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n), target, label)
		}
	}
}
