package server

import (
	"context"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/store"
)

// valueMetrics are the business dashboard's figures, set after each value
// refresh (not read on scrape: counting segments reads every customer).
// Label sets are bounded: stages and segments are fixed lists, channels
// are the top valueTopKeys by revenue plus "other", months the last 24.
type valueMetrics struct {
	customers *prometheus.GaugeVec // stage, segment, abc
	revenue   *prometheus.GaugeVec // stage, segment, abc: revenue_12m, base currency
	byDim     *prometheus.GaugeVec // dim (channel, month), key, currency
	overdue   *prometheus.GaugeVec // currency
	refreshed prometheus.Gauge
}

const valueTopKeys = 20

func newValueMetrics(r prometheus.Registerer) *valueMetrics {
	m := &valueMetrics{
		customers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crmhub_value_customers",
			Help: "Active golden customers by lifecycle stage, RFM segment and ABC class, at the last value refresh."}, []string{"stage", "segment", "abc"}),
		revenue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crmhub_value_revenue_12m",
			Help: "Revenue of the last 12 months in the base currency by stage, segment and ABC class, at the last value refresh."}, []string{"stage", "segment", "abc"}),
		byDim: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crmhub_value_revenue",
			Help: "Lifetime net revenue by channel (top 20 + other) and by month (last 24), per currency."}, []string{"dim", "key", "currency"}),
		overdue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crmhub_value_overdue_balance",
			Help: "Overdue balance over all customers, per currency, at the last value refresh."}, []string{"currency"}),
		refreshed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "crmhub_value_refreshed_timestamp_seconds",
			Help: "When the value figures were last refreshed."}),
	}
	r.MustRegister(m.customers, m.revenue, m.byDim, m.overdue, m.refreshed)
	return m
}

// runValueRefresh refreshes the figures every interval (the first right
// away, so an upgraded store gets segments), until ctx ends. Between
// refreshes it asks the store every value.delay whether the RFM/ABC cut
// still fits the customers (Store.ValueCutStale) and re-cuts when not: a
// hub started on an empty store cuts from no customer at start, and its
// first sync would otherwise leave every customer unsegmented until the
// next interval. A failed refresh is logged and retried at the next tick:
// the figures only age.
func (s *Server) runValueRefresh(ctx context.Context) error {
	m := newValueMetrics(s.registry)
	interval, maxN, clock := s.cfg.Value.Interval(), s.cfg.Value.Max(), s.cfg.Value.Clock()
	log := s.log.With("component", "value-refresh")
	refresh := func(maxN int, why string) {
		start := time.Now()
		st, err := s.store.RefreshValue(ctx, clock(), maxN)
		if err == nil {
			err = m.set(ctx, s.store, clock())
		}
		if err != nil && ctx.Err() == nil {
			log.Error("value refresh failed", "why", why, "err", err)
		} else if err == nil {
			log.Info("value refreshed", "why", why, "recomputed", st.Recomputed, "rescored", st.Rescored, "customers", st.Customers,
				"took", time.Since(start).Round(time.Millisecond))
		}
	}
	refresh(maxN, "start")
	next := time.Now().Add(interval)
	check := time.NewTicker(min(s.cfg.Value.DrainEvery(), interval))
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-check.C:
		}
		if !time.Now().Before(next) {
			refresh(maxN, "interval")
			next = time.Now().Add(interval)
			continue
		}
		stale, err := s.store.ValueCutStale(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("value cut check failed", "err", err)
			}
			continue
		}
		if stale {
			// Only the re-cut: the recompute of stale figures waits for
			// the interval (it scans every golden customer).
			refresh(0, "customers with orders changed since the last cut")
		}
	}
}

// drainPace bounds the deferred recompute's share of the applier's time:
// after a pass that took d, the next starts no sooner than drainPace x d
// later (and never sooner than value.delay). A pass recomputes every
// customer touched since the last, reading all of its records, so during
// a sync that keeps touching the same customers longer pauses mean fewer
// recomputes of each (README, Benchmarks: drained against paced).
const drainPace = 4

// runValueDrain recomputes, every value.delay (or drainPace times the
// last pass's duration, when longer), the figures of the customers
// deferred apply marked, until ctx ends. A failure is logged and retried:
// the marks stay until a drain succeeds.
func (s *Server) runValueDrain(ctx context.Context) error {
	every := s.cfg.Value.DrainEvery()
	log := s.log.With("component", "value-drain")
	for {
		start := time.Now()
		for {
			n, err := s.store.DrainValue(ctx, 2000)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("value recompute failed", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(max(every, drainPace*time.Since(start))):
		}
	}
}

func (m *valueMetrics) set(ctx context.Context, st *store.Store, now time.Time) error {
	segs, err := st.Segments(ctx)
	if err != nil {
		return err
	}
	m.customers.Reset()
	m.revenue.Reset()
	for _, sg := range segs {
		m.customers.WithLabelValues(sg.Stage, sg.Segment, sg.ABC).Add(float64(sg.Customers))
		f, _ := decimal.RequireFromString(sg.Revenue12m.Amount).Float64() // a gauge's value, not money kept
		m.revenue.WithLabelValues(sg.Stage, sg.Segment, sg.ABC).Add(f)
	}
	m.byDim.Reset()
	channels, err := st.RevenueBy(ctx, "channel")
	if err != nil {
		return err
	}
	sort.SliceStable(channels, func(i, j int) bool {
		return decimal.RequireFromString(channels[i].Revenue.Amount).GreaterThan(decimal.RequireFromString(channels[j].Revenue.Amount))
	})
	seen := map[string]bool{}
	for _, r := range channels {
		key := r.Key
		if !seen[key] && len(seen) >= valueTopKeys {
			key = "other"
		}
		seen[r.Key] = true
		f, _ := decimal.RequireFromString(r.Revenue.Amount).Float64()
		m.byDim.WithLabelValues("channel", key, r.Revenue.Currency).Add(f)
	}
	months, err := st.RevenueBy(ctx, "month")
	if err != nil {
		return err
	}
	from := now.UTC().AddDate(0, -23, 0).Format("2006-01")
	for _, r := range months {
		if r.Key >= from {
			f, _ := decimal.RequireFromString(r.Revenue.Amount).Float64()
			m.byDim.WithLabelValues("month", r.Key, r.Revenue.Currency).Add(f)
		}
	}
	overdue, err := st.RevenueBy(ctx, "overdue")
	if err != nil {
		return err
	}
	m.overdue.Reset()
	for _, r := range overdue {
		f, _ := decimal.RequireFromString(r.Revenue.Amount).Float64()
		m.overdue.WithLabelValues(r.Revenue.Currency).Set(f)
	}
	m.refreshed.SetToCurrentTime()
	return nil
}

// valueOptions are the store's value settings; the config was checked
// when loaded, so Config cannot fail here.
func valueOptions(v config.Value) store.ValueOptions {
	c, _ := v.Config()
	return store.ValueOptions{Off: !v.On(), Deferred: v.Deferred(), Config: &c, Clock: v.Clock()}
}
