package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/store"
)

// modelEstimator keeps the person model the estimate of the store's
// current records (identity.fuzzy.people.estimate: auto): once the store
// has been idle for estimate_idle after records were applied, it asks the
// store to estimate again (store.Reestimate), which stores a new version
// when the record set changed and rescores the links when the model's
// fingerprint changed. It runs beside the applier, not in it: the estimate
// reads through the read pool, and only the rescore's small chunks take
// the applier's lock.
type modelEstimator struct {
	store *store.Store
	opt   store.EstimateOptions
	idle  time.Duration
	// interval: the least time between one estimate's end and the next's
	// start (see nextEstimate).
	interval time.Duration
	log      *slog.Logger

	// mu: one estimation at a time (the loop, Settle).
	mu sync.Mutex
	// paused: while above 0 the loop starts no estimate
	// (Server.PauseIdentityModel).
	paused atomic.Int32
	// inUse is the stored version the store uses, 0 for the configured
	// model.
	inUse int
	// next: the loop estimates no sooner (nextEstimate).
	next time.Time

	version   prometheus.Gauge
	estimated prometheus.Gauge
	records   prometheus.Gauge
	runs      *prometheus.CounterVec // result
}

// Results of an estimation, the values of the runs counter's label.
const (
	estimateNew      = "estimated"
	estimateSame     = "unchanged"
	estimateTooFew   = "too_few"
	estimateFailed   = "failed"
	modelPollSeconds = 10
)

func newModelEstimator(st *store.Store, p config.People, reg prometheus.Registerer, log *slog.Logger) *modelEstimator {
	e := &modelEstimator{store: st, log: log,
		opt:  store.EstimateOptions{MinRecords: p.EstimateMinRecords, Sample: p.EstimateSample},
		idle: p.EstimateIdle.D(), interval: p.EstimateInterval.D(),
		version: prometheus.NewGauge(prometheus.GaugeOpts{Name: "crmhub_identity_model_version",
			Help: "Version of the stored person model in use; 0 while the configured one (the defaults) is."}),
		estimated: prometheus.NewGauge(prometheus.GaugeOpts{Name: "crmhub_identity_model_estimated_timestamp_seconds",
			Help: "When the person model in use was estimated; 0 for the configured one."}),
		records: prometheus.NewGauge(prometheus.GaugeOpts{Name: "crmhub_identity_model_records",
			Help: "Person records the model in use was estimated on; 0 for the configured one."}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmhub_identity_model_estimations_total",
			Help: "Automatic estimations of the person model by result: estimated (a new version), unchanged (the same record set), too_few, failed."}, []string{"result"}),
	}
	if e.idle <= 0 {
		e.idle = 5 * time.Second
	}
	for _, r := range []string{estimateNew, estimateSame, estimateTooFew, estimateFailed} {
		e.runs.WithLabelValues(r)
	}
	reg.MustRegister(e.version, e.estimated, e.records, e.runs)
	return e
}

// load makes the newest stored model the store's, before the start's
// rescore check: a hub restarted keeps the model it had.
func (e *modelEstimator) load(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, err := e.store.LatestModel(ctx)
	if err != nil {
		return err
	}
	if m == nil {
		e.log.Info("identity model: the defaults until the store holds enough person records to estimate from",
			"min_records", e.opt.MinRecords)
		return nil
	}
	e.use(m)
	e.log.Info("identity model loaded from the store", "version", m.Version, "records", m.Records,
		"estimated", m.CreatedAt.Format(time.RFC3339))
	return nil
}

func (e *modelEstimator) use(m *store.Model) {
	if m.Version != e.inUse {
		e.store.UseModel(m.Params)
		e.inUse = m.Version
	}
	e.version.Set(float64(m.Version))
	e.estimated.Set(float64(m.CreatedAt.UnixNano()) / 1e9)
	e.records.Set(float64(m.Records))
}

// run estimates whenever the store's write epoch has stood still for the
// idle time since it last moved and differs from the one the last
// estimate started at (the first check after start counts as a change:
// records may have come while the hub was down). A failure is logged and
// retried after the next idle time. Without the apply role (apply: false)
// it only follows the versions other instances store.
func (e *modelEstimator) run(ctx context.Context, apply bool) error {
	tick := time.NewTicker(min(e.idle/2, time.Second))
	defer tick.Stop()
	var (
		seen, done int64 = -1, -1
		seenAt     time.Time
		polled     time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if !apply {
			if time.Since(polled) >= modelPollSeconds*time.Second {
				polled = time.Now()
				e.follow(ctx)
			}
			continue
		}
		epoch, err := e.store.WriteEpoch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.log.Warn("identity model: cannot read the write epoch", "err", err)
			continue
		}
		if epoch != seen {
			seen, seenAt = epoch, time.Now()
			continue
		}
		if epoch == done || time.Since(seenAt) < e.idle || time.Now().Before(e.nextAt()) || e.paused.Load() > 0 {
			continue
		}
		if _, err := e.Settle(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.log.Warn("identity model estimation failed; trying again after the next quiet period", "err", err)
			seenAt = time.Now()
			continue
		}
		done = epoch
	}
}

// settleShare: the loop waits settleShare times as long as the last
// estimate took before the next, so that while records keep arriving,
// with quiet moments between them, estimating and rescoring take at most
// 1/(settleShare+1) of the hub's time. A growing store's name frequencies
// move with every record, so nearly every quiet moment changes the model.
const settleShare = 9

// nextEstimate is when the loop may estimate again after an estimate that
// ended at end and took took: not before interval, nor before settleShare
// times took. It only delays: a store that stays quiet estimates then.
func nextEstimate(end time.Time, took, interval time.Duration) time.Time {
	return end.Add(max(interval, settleShare*took))
}

func (e *modelEstimator) nextAt() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.next
}

// follow adopts a newer version another instance stored. The instance
// that stored it rescored the links.
func (e *modelEstimator) follow(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, err := e.store.LatestModel(ctx)
	if err != nil || m == nil || m.Version == e.inUse {
		return
	}
	e.use(m)
	e.log.Info("identity model: using the version another instance estimated", "version", m.Version, "records", m.Records)
}

// Settle estimates now if the record set changed since the model in use,
// and rescores when the model changed (see store.Reestimate).
func (e *modelEstimator) Settle(ctx context.Context) (store.EstimateResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	start := time.Now()
	last := start
	opt := e.opt
	opt.Progress = func(pass string, done, total int) {
		if time.Since(last) >= 10*time.Second || done == total {
			last = time.Now()
			e.log.Info("identity rescore progress", "pass", pass, "records", done, "of", total)
		}
	}
	res, err := e.store.Reestimate(ctx, opt)
	e.next = nextEstimate(time.Now(), time.Since(start), e.interval)
	switch {
	case err != nil:
		e.runs.WithLabelValues(estimateFailed).Inc()
		return res, fmt.Errorf("estimate the person model: %w", err)
	case res.Model == nil:
		e.runs.WithLabelValues(estimateTooFew).Inc()
		return res, nil
	case res.Estimated:
		e.runs.WithLabelValues(estimateNew).Inc()
	default:
		e.runs.WithLabelValues(estimateSame).Inc()
	}
	e.inUse = res.Model.Version // Reestimate made it the store's: use sets the gauges
	e.use(res.Model)
	if res.Estimated || res.Rescored {
		e.log.Info("identity model estimated", "version", res.Model.Version, "records", res.Model.Records,
			"new_version", res.Estimated, "rescored", res.Rescored, "golden_created", res.Rescore.GoldenCreated,
			"golden_merged", res.Rescore.GoldenMerged, "took", time.Since(start).Round(time.Millisecond))
	}
	return res, nil
}

// SettleIdentityModel estimates the person model now if the store's
// records changed since the one in use, as the hub does when idle, and
// waits for the rescore: `crmhub bench` calls it once the sources are
// synced, so its figures are those of the model the hub settles on. It
// does nothing when the hub does not estimate (estimate: off, a params
// file, no fuzzy matching, not the apply role).
func (s *Server) SettleIdentityModel(ctx context.Context) (store.EstimateResult, error) {
	if s.model == nil || !s.cfg.Runs(config.RoleApply) {
		return store.EstimateResult{}, nil
	}
	return s.model.Settle(ctx)
}

// PauseIdentityModel keeps the hub's idle loop from starting an estimate
// until resume is called (an estimate already running is waited for):
// `crmhub bench` waits for the golden change stream after a sync, a quiet
// moment long enough for the loop to estimate and rescore in it, which
// then counted as the stream's work and left the bench's own settle
// nothing to report.
// SettleIdentityModel still estimates while paused.
func (s *Server) PauseIdentityModel() (resume func()) {
	if s.model == nil || !s.cfg.Runs(config.RoleApply) {
		return func() {}
	}
	s.model.paused.Add(1)
	s.model.mu.Lock() // wait for an estimate the loop started
	s.model.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { s.model.paused.Add(-1) }) }
}

// autoModel reports whether this hub estimates its person model: fuzzy
// matching on, the Fellegi-Sunter method, estimate auto and no params file.
func autoModel(cfg *config.Config) bool {
	f := cfg.Identity.Fuzzy
	return f.Enabled && (f.Method == "" || f.Method == identity.MethodFellegiSunter) && f.People.AutoEstimate()
}
