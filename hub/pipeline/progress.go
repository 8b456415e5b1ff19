package pipeline

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// DefaultProgressInterval is how often a reading source logs its progress.
const DefaultProgressInterval = 10 * time.Second

// Progress keeps every source's reading progress: a runner logs a line at
// a steady interval while it reads its backlog (records, rate, position,
// estimated remaining when the source can count) and one "caught up" line
// with totals; Snapshot serves GET /v1/connectors. Without it the only
// sign of life of a long snapshot was /metrics.
type Progress struct {
	// Interval between progress lines; 0 means DefaultProgressInterval.
	Interval time.Duration

	mu  sync.Mutex
	set map[string]*sourceProgress
}

// SourceStatus is one connector instance's progress as the API shows it.
// Counts are since the hub started; Remaining is -1 when the source cannot
// count (or the run resumed from a saved position, so the records read
// before are unknown).
type SourceStatus struct {
	Connector    string    `json:"connector"`
	Read         int64     `json:"records_read"`
	Mapped       int64     `json:"records_mapped"`
	DeadLettered int64     `json:"records_dead_lettered"`
	Total        int64     `json:"source_total"` // -1: unknown
	Remaining    int64     `json:"remaining"`    // -1: unknown
	CaughtUp     bool      `json:"caught_up"`
	LagSeconds   float64   `json:"lag_seconds"`
	RatePerSec   float64   `json:"rate_per_second"`
	Position     time.Time `json:"position,omitzero"` // newest source updated_at read
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
	LastSuccess  time.Time `json:"last_success,omitzero"` // last read that succeeded
	Started      time.Time `json:"started"`
}

// sourceProgress is one runner's state; counts of this run only, the
// metrics hold the process totals.
type sourceProgress struct {
	owner    *Source // the run; a new Source value is a new run
	st       SourceStatus
	resumed  bool
	runRead  int64 // records read by this run
	lastLine time.Time
	lineRead int64 // runRead at the last line
	ended    bool  // the run stopped (a permanent error)
}

// Snapshot returns every source's status by connector name, the mapped and
// dead-lettered counts taken from m.
func (p *Progress) Snapshot(m *Metrics) []SourceStatus {
	p.mu.Lock()
	out := make([]SourceStatus, 0, len(p.set))
	for _, sp := range p.set {
		out = append(out, sp.st)
	}
	p.mu.Unlock()
	for i := range out {
		if m != nil {
			// Read as /metrics counts it (at the mapping stage), so the
			// status and a dashboard show one figure.
			out[i].Read = sumCounter(m.Read, out[i].Connector)
			out[i].Mapped = sumCounter(m.Mapped, out[i].Connector)
			out[i].DeadLettered = sumCounter(m.DeadLetters, out[i].Connector)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Connector < out[j].Connector })
	return out
}

func (p *Progress) interval() time.Duration {
	if p.Interval > 0 {
		return p.Interval
	}
	return DefaultProgressInterval
}

// sumCounter adds a counter vector's series of one connector (the
// "connector" label), so the status needs no counters of its own.
func sumCounter(v *prometheus.CounterVec, connector string) int64 {
	var n float64
	eachOf(v, connector, func(d *dto.Metric) { n += d.GetCounter().GetValue() })
	return int64(n)
}

// SourceLagOf is the largest crmhub_pipeline_source_lag_seconds of one
// connector over its entities, as /metrics serves it; false before a batch
// with updated-at values set one.
func (m *Metrics) SourceLagOf(connector string) (float64, bool) {
	lag, ok := 0.0, false
	eachOf(m.SourceLag, connector, func(d *dto.Metric) {
		if v := d.GetGauge().GetValue(); !ok || v > lag {
			lag, ok = v, true
		}
	})
	return lag, ok
}

// eachOf calls fn with every series of c labelled with connector.
func eachOf(c prometheus.Collector, connector string, fn func(*dto.Metric)) {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil {
			continue
		}
		for _, l := range d.GetLabel() {
			if l.GetName() == "connector" && l.GetValue() == connector {
				fn(&d)
			}
		}
	}
}

// track is the runner's one call after each Read: it counts the batch,
// notes errors and caught-up, and on the first call starts the progress
// lines (until ctx ends) and, when the source can count, the estimate.
func (s *Source) track(ctx context.Context, recs []sdk.Record, err error) {
	if s.Metrics == nil || err != nil && ctx.Err() != nil {
		return // shutting down is no error of the source
	}
	p := s.Metrics.Progress
	if p == nil {
		return
	}
	now := s.Now()
	p.mu.Lock()
	if p.set == nil {
		p.set = map[string]*sourceProgress{}
	}
	sp, ok := p.set[s.Name]
	first := !ok || sp.owner != s
	if first {
		// A new run of this instance (a restart after a failure keeps the
		// name): counts of the run restart, records read and the last
		// error carry over.
		st := SourceStatus{Connector: s.Name, Total: -1, Remaining: -1, Started: now}
		if ok {
			st.Read, st.LastError, st.LastErrorAt = sp.st.Read, sp.st.LastError, sp.st.LastErrorAt
		}
		sp = &sourceProgress{owner: s, st: st, lastLine: now}
		p.set[s.Name] = sp
	}
	switch {
	case err != nil:
		sp.st.LastError, sp.st.LastErrorAt = err.Error(), now
		// Run returns on a permanent error: no more lines for this run.
		sp.ended = s.IsPermanent != nil && s.IsPermanent(err)
	default:
		sp.st.LastSuccess = now
		sp.runRead += int64(len(recs))
		sp.st.Read += int64(len(recs))
		for i := range recs {
			if t := recs[i].UpdatedAt; t.After(sp.st.Position) {
				sp.st.Position = t.UTC()
			}
		}
		if !sp.st.Position.IsZero() && len(recs) > 0 {
			sp.st.LagSeconds = now.Sub(sp.st.Position).Seconds()
		}
		if el := now.Sub(sp.st.Started).Seconds(); el > 0 {
			sp.st.RatePerSec = float64(sp.runRead) / el
		}
		if sp.st.Total >= 0 && !sp.resumed {
			sp.st.Remaining = max(sp.st.Total-sp.runRead, 0)
		}
	}
	caughtUp := err == nil && len(recs) == 0 && !sp.st.CaughtUp
	if caughtUp {
		sp.st.CaughtUp, sp.st.LagSeconds, sp.st.Remaining = true, 0, 0
	} else if len(recs) > 0 && sp.st.CaughtUp {
		sp.st.LagSeconds = now.Sub(sp.st.Position).Seconds()
	}
	st, runRead := sp.st, sp.runRead
	p.mu.Unlock()
	if first {
		// Asked now, before this run's first batch is checkpointed: a
		// saved position means the run resumed.
		resumed := false
		if s.Positions != nil {
			pos, perr := s.Positions.Position(ctx, s.Name)
			resumed = perr != nil || len(pos) > 0
		}
		go s.progressLines(ctx, p, sp)
		go s.countSource(ctx, p, sp, resumed)
	}
	if caughtUp {
		s.Logger.Info("caught up", "connector", s.Name, "records", runRead, "took", now.Sub(st.Started).Round(time.Millisecond).String(),
			"rate_per_s", round1(st.RatePerSec), "mapped", sumCounter(s.Metrics.Mapped, s.Name),
			"dead_lettered", sumCounter(s.Metrics.DeadLetters, s.Name), "position", timeOrNone(st.Position))
	}
}

// progressLines logs the progress every interval while the source is
// reading: before it caught up always (a long query shows as a rate of 0,
// not as silence), after only when records arrived since the last line.
func (s *Source) progressLines(ctx context.Context, p *Progress, sp *sourceProgress) {
	t := time.NewTicker(p.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.Now()
		p.mu.Lock()
		if sp.ended || p.set[s.Name] != sp {
			p.mu.Unlock()
			return // the run ended, or a new one took over
		}
		n, runRead := sp.runRead-sp.lineRead, sp.runRead
		el := now.Sub(sp.lastLine).Seconds()
		sp.lastLine, sp.lineRead = now, sp.runRead
		st := sp.st
		p.mu.Unlock()
		if st.CaughtUp && n == 0 {
			continue
		}
		rate := 0.0
		if el > 0 {
			rate = float64(n) / el
		}
		args := []any{"connector", s.Name, "records", runRead, "rate_per_s", round1(rate), "position", timeOrNone(st.Position)}
		msg := "snapshot progress"
		if st.CaughtUp {
			msg = "source progress"
		}
		if st.Remaining >= 0 && !st.CaughtUp {
			args = append(args, "total", st.Total, "remaining", st.Remaining)
			if rate > 0 {
				args = append(args, "eta", time.Duration(float64(st.Remaining)/rate*float64(time.Second)).Round(100*time.Millisecond).String())
			}
		}
		s.Logger.Info(msg, args...)
	}
}

// countSource asks a source that can count (sdk.Reconciler) for the
// records of each entity, for the estimate of what is left; a run resumed
// from a saved position has read an unknown part before, so it gets no
// estimate.
func (s *Source) countSource(ctx context.Context, p *Progress, sp *sourceProgress, resumed bool) {
	var total int64
	entities := SettingsEntities(s.Config)
	entities = append(entities, fileEntities(s.Config)...)
	ok := len(entities) > 0 && !resumed
	for _, e := range entities {
		if !ok {
			break
		}
		n, err := sdk.CountOf(ctx, s.Source, e)
		if err != nil {
			if !errors.Is(err, sdk.ErrNotSupported) && ctx.Err() == nil {
				s.Logger.Debug("count for the progress estimate failed", "connector", s.Name, "entity", e, "err", err)
			}
			ok = false
			break
		}
		total += n
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	sp.resumed = resumed
	if ok {
		sp.st.Total = total
		if !sp.st.CaughtUp {
			sp.st.Remaining = max(total-sp.runRead, 0)
		}
	}
}

// fileEntities reads the entity names of a `files` setting (the file
// connector's list of objects with an `entity`).
func fileEntities(settings map[string]any) []string {
	list, _ := settings["files"].([]any)
	var out []string
	seen := map[string]bool{}
	for _, f := range list {
		if m, ok := f.(map[string]any); ok {
			if n, ok := m["entity"].(string); ok && n != "" && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func timeOrNone(t time.Time) any {
	if t.IsZero() {
		return "none"
	}
	return t.Format(time.RFC3339)
}
