package server

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/store"
)

// valueMetrics are the business dashboard's figures, set every value.delay
// from the rollups the store keeps on every recompute (value_totals), not
// read on scrape: a scrape should not wait for the store.
// Label sets are bounded: stages and segments are fixed lists, channels
// are the top valueTopKeys by revenue plus "other", months the last 24.
type valueMetrics struct {
	customers *prometheus.GaugeVec // stage, segment, abc
	revenue   *prometheus.GaugeVec // stage, segment, abc: revenue_12m, base currency
	byDim     *prometheus.GaugeVec // dim (channel, month), key, currency
	overdue   *prometheus.GaugeVec // currency
	refreshed prometheus.Gauge

	mu   sync.Mutex
	last [4]gaugeValues // what set put in customers, revenue, byDim, overdue
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
			m.refreshed.SetToCurrentTime()
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
		// Apply busy within the last check: a sync runs, re-cut by a
		// factor of four (ValueCutStale says why).
		stale, err := s.store.ValueCutStale(ctx, s.applyBusy())
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
			continue
		}
		// The rollups move with every recompute; the gauges follow them
		// here, not only at a refresh (an invoice falling due, or a sync
		// bringing invoices after the orders, moves no cut).
		if err := m.set(ctx, s.store, clock()); err != nil && ctx.Err() == nil {
			log.Error("value gauges failed", "err", err)
		}
	}
}

// applyBusy reports whether apply ran within the last value.delay (a
// sync running): the re-cut and the golden stream's hold both ask, each
// also counting pending deferred marks as busy.
func (s *Server) applyBusy() bool {
	return time.Since(s.store.LastApply()) < s.cfg.Value.DrainEvery()
}

// pendingProbe answers one of the golden stream's questions of the store
// ("are figures pending?", "is a re-cut due?"), trusting a yes for
// pendingTrust. While it holds changes the stream asks the first before
// and after every read of the feed, and on SQLite each ask is a read
// transaction that first empties the read connection's page cache (the
// writer committed since), about 6 ms with that cache full: 0.40 CPU-s of a deferred first sync of 20,000 people
// (docs/benchmarks.md). In one such sync 48 of 102 asks were answered
// from a yes. A no is asked again every time: the stream releases what
// it holds on it, and a stale one could release an upsert ahead of the
// value change its recompute just wrote.
type pendingProbe struct {
	ask func(ctx context.Context) (bool, error)
	now func() time.Time

	mu  sync.Mutex
	yes time.Time // when the store last said yes
}

// pendingTrust is how long a yes stands: a held change goes out at most
// this much later than it could.
const pendingTrust = 250 * time.Millisecond

func (p *pendingProbe) pending(ctx context.Context) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if !p.yes.IsZero() && now.Sub(p.yes) < pendingTrust {
		return true
	}
	ok, err := p.ask(ctx)
	if err != nil || !ok {
		p.yes = time.Time{}
		return false
	}
	p.yes = now // from before the ask: the window never outlasts the answer
	return true
}

// drainPace bounds the deferred recompute's share of the applier's time:
// after a pass that took d, the next starts no sooner than drainPace x d
// later (and never sooner than value.delay).
const drainPace = 4

// runValueDrain recomputes, every value.delay (or drainPace times the
// last pass's duration, when longer), the figures of the customers
// deferred apply marked and that stopped changing: untouched for
// value.delay, or with a change pending for value.max_lag (store
// DrainSettled). A pass re-reads every record of each customer it takes,
// so during a sync that keeps touching the same customers, taking each
// once it settles rather than in every pass saves recomputes; a customer
// that never settles lags by at most max_lag plus one pause
// (docs/benchmarks.md: paced). A failure is logged and retried: the
// marks stay until a drain succeeds. took hears of each transaction's
// recomputed goldens (the golden stream releases upserts held for them).
func (s *Server) runValueDrain(ctx context.Context, took func(ids []string, seq int64)) error {
	every, maxLag := s.cfg.Value.DrainEvery(), s.cfg.Value.Lag()
	log := s.log.With("component", "value-drain")
	for {
		start := time.Now()
		if _, err := s.store.DrainSettled(ctx, 2000, every, maxLag, took); err != nil && ctx.Err() == nil {
			log.Error("value recompute failed", "err", err)
		}
		if !drainPause(ctx, every, drainPace*time.Since(start), s.store.LastApply) {
			return nil
		}
	}
}

// drainPause waits every, then until paced has passed too, or sooner
// once apply has been idle for every: the pace bounds the recompute's
// share of the applier's time, and an idle applier has none to share.
// Without that, the last pass of a sync waited drainPace times the
// previous pass (which, run while apply held the writer, took seconds)
// after the last record applied: at 130,000 records 20 s of a 52 s
// sync-and-settle (docs/benchmarks.md). Once apply has paused (nothing
// applied for a quarter of every, where a sync applies every few
// milliseconds), the pause lasts until every after the last apply, when
// the marks of its last batches have settled: a pass run before then
// left them to the next one, a pause and a pass later, which was 0 to 1 s
// more between a sync's last record and its settled figures. It reports
// false when ctx ends.
func drainPause(ctx context.Context, every, paced time.Duration, lastApply func() time.Time) bool {
	end := time.Now().Add(max(every, paced))
	wait := every
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		idle := time.Since(lastApply())
		if idle >= every {
			return true
		}
		if idle >= every/4 {
			wait = every - idle
			continue
		}
		left := time.Until(end)
		if left <= 0 {
			return true
		}
		wait = min(left, every/4)
	}
}

// set reads the rollups the gauges show (value_totals: a few hundred rows
// whatever the store's size) and sets the gauges. A series whose labels
// no longer occur is deleted, not the whole vector reset, so a scrape in
// between never sees the gauges empty.
func (m *valueMetrics) set(ctx context.Context, st *store.Store, now time.Time) error {
	segs, err := st.Segments(ctx)
	if err != nil {
		return err
	}
	customers, revenue := gaugeValues{}, gaugeValues{}
	for _, sg := range segs {
		f, _ := decimal.RequireFromString(sg.Revenue12m.Amount).Float64() // a gauge's value, not money kept
		customers.add(float64(sg.Customers), sg.Stage, sg.Segment, sg.ABC)
		revenue.add(f, sg.Stage, sg.Segment, sg.ABC)
	}
	byDim := gaugeValues{}
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
		byDim.add(f, "channel", key, r.Revenue.Currency)
	}
	months, err := st.RevenueBy(ctx, "month")
	if err != nil {
		return err
	}
	from := now.UTC().AddDate(0, -23, 0).Format("2006-01")
	for _, r := range months {
		if r.Key >= from {
			f, _ := decimal.RequireFromString(r.Revenue.Amount).Float64()
			byDim.add(f, "month", r.Key, r.Revenue.Currency)
		}
	}
	overdue, err := st.RevenueBy(ctx, "overdue")
	if err != nil {
		return err
	}
	od := gaugeValues{}
	for _, r := range overdue {
		f, _ := decimal.RequireFromString(r.Revenue.Amount).Float64()
		od.add(f, r.Revenue.Currency)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range []struct {
		vec  *prometheus.GaugeVec
		last *gaugeValues
		now  gaugeValues
	}{{m.customers, &m.last[0], customers}, {m.revenue, &m.last[1], revenue}, {m.byDim, &m.last[2], byDim}, {m.overdue, &m.last[3], od}} {
		for k, v := range x.now {
			x.vec.WithLabelValues(strings.Split(k, "\x00")...).Set(v)
		}
		for k := range *x.last {
			if _, ok := x.now[k]; !ok {
				x.vec.DeleteLabelValues(strings.Split(k, "\x00")...)
			}
		}
		*x.last = x.now
	}
	return nil
}

// gaugeValues are the values of one gauge vector by its label values
// (joined with NUL).
type gaugeValues map[string]float64

func (g gaugeValues) add(v float64, labels ...string) { g[strings.Join(labels, "\x00")] += v }

// valueOptions are the store's value settings; the config was checked
// when loaded, so Config cannot fail here.
func valueOptions(v config.Value) store.ValueOptions {
	c, _ := v.Config()
	return store.ValueOptions{Off: !v.On(), Deferred: v.Deferred(), Config: &c, Clock: v.Clock()}
}
