package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// ReconcileStore is what reconciliation reads from the hub (hub/store).
type ReconcileStore interface {
	LiveRecordCount(ctx context.Context, system, sourceEntity string) (int64, error)
	LiveSourceIDs(ctx context.Context, system, sourceEntity, after string, limit int) ([]string, error)
}

// ReconcileDeadLetters counts what explains part of a drift: the open dead
// letters of a source entity (hub/store/deadletters).
type ReconcileDeadLetters interface {
	OpenDeadLettersOf(ctx context.Context, connector, sourceEntity string) (int64, error)
}

// ReconcileVersions is what a store offers to find records whose version
// moved without being read (hub/store); optional.
type ReconcileVersions interface {
	SourceVersions(ctx context.Context, system, sourceEntity string, ids []string) (map[string]int64, error)
}

// ReconcileTarget is one connector instance to reconcile.
type ReconcileTarget struct {
	Name   string // connector instance
	System string // system name its envelopes carry
	// Source is the same supervised source the runner reads through; it
	// answers once the runner has opened it.
	Source sdk.Source
	// Entities are the source entities to compare (SettingsEntities reads
	// them from the usual `entities` setting).
	Entities []string
	// Interval between rounds; 0 or less turns the target off.
	Interval time.Duration
	// NoReread turns off asking the source to read again the records
	// whose version moved behind its position (they are still listed).
	NoReread bool
}

// Reconciler periodically compares each source entity's live record count
// with the hub's and exports the difference, catching drift no error
// reports: a hard delete the connector never saw, a record lost on the way.
// The counts are taken a moment apart while records flow, so a small drift
// that comes and goes is sync lag; a drift that stays is worth a look (the
// alert waits for it to persist).
type Reconciler struct {
	Targets []ReconcileTarget
	Store   ReconcileStore
	// DeadLetters counts the open dead letters a result reports; required.
	DeadLetters ReconcileDeadLetters
	Registerer  prometheus.Registerer // nil: metrics not exported
	Logger      *slog.Logger          // nil: discarded
	// MaxKeys bounds how many source ids the missing listing holds in
	// memory. Default 5,000,000.
	MaxKeys int
	Now     func() time.Time

	once    sync.Once
	initErr error
	m       reconcileMetrics
	mu      sync.Mutex
	targets []*ReconcileTarget                // Targets, then those added by Watch
	results map[[2]string]hub.ReconcileResult // by connector, entity
}

var _ hub.Reconciliation = (*Reconciler)(nil)

type reconcileMetrics struct {
	source, hubN, drift, dead *prometheus.GaugeVec
	lastRun                   *prometheus.GaugeVec
	errors                    *prometheus.CounterVec
	movedUnread               *prometheus.GaugeVec
	reread                    *prometheus.CounterVec
}

func (r *Reconciler) init() error {
	r.once.Do(func() {
		if r.Logger == nil {
			r.Logger = slog.New(slog.DiscardHandler)
		}
		if r.Now == nil {
			r.Now = time.Now
		}
		if r.MaxKeys <= 0 {
			r.MaxKeys = 5_000_000
		}
		if r.Store == nil || r.DeadLetters == nil {
			r.initErr = errors.New("reconciler: Store and DeadLetters are required")
			return
		}
		r.results = map[[2]string]hub.ReconcileResult{}
		for i := range r.Targets {
			r.targets = append(r.targets, &r.Targets[i])
		}
		labels := []string{"connector", "entity"}
		r.m = reconcileMetrics{
			source: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crmhub_reconcile_source_records",
				Help: "Live records the source holds, at the last reconciliation."}, labels),
			hubN: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crmhub_reconcile_hub_records",
				Help: "Live records the hub holds for the source entity, at the last reconciliation."}, labels),
			drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crmhub_reconcile_drift_records",
				Help: "Source records minus hub records: positive when the hub lacks records, negative when it keeps deleted ones."}, labels),
			dead: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crmhub_reconcile_dead_letters_open",
				Help: "Open dead letters of the source entity at the last reconciliation (records the hub could not take)."}, labels),
			lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crmhub_reconcile_last_run_timestamp_seconds",
				Help: "When the connector's last reconciliation round finished, Unix seconds."}, []string{"connector"}),
			errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmhub_reconcile_errors_total",
				Help: "Entity comparisons that failed (source or store unreachable; unsupported counts are not errors)."}, []string{"connector"}),
			movedUnread: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crmhub_reconcile_moved_unread_records",
				Help: "Source records whose version is newer than the hub's yet behind the source's position (polling never reads them), at the last reconciliation."}, labels),
			reread: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crmhub_reconcile_reread_records_total",
				Help: "Records reconciliation asked a source to read again because their version moved behind its position."}, labels),
		}
		if r.Registerer != nil {
			for _, c := range []prometheus.Collector{r.m.source, r.m.hubN, r.m.drift, r.m.dead, r.m.lastRun, r.m.errors, r.m.movedUnread, r.m.reread} {
				if err := r.Registerer.Register(c); err != nil {
					r.initErr = fmt.Errorf("register reconciliation metrics: %w", err)
					return
				}
			}
		}
		for _, t := range r.Targets {
			r.m.errors.WithLabelValues(t.Name)
		}
	})
	return r.initErr
}

// Init registers the metrics without running a round, so that they are
// listed (empty) from the start. Run calls it too.
func (r *Reconciler) Init() error { return r.init() }

// Run reconciles every target of Targets at its interval until ctx is
// done. The first round of a target comes one interval after the start:
// the runner needs that long to open the source, and a hub still taking
// its first snapshot would only report the snapshot's progress.
func (r *Reconciler) Run(ctx context.Context) error {
	if err := r.init(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for i := range r.Targets {
		t := &r.Targets[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, t)
		}()
	}
	wg.Wait()
	return nil
}

// Watch adds a target whose source was started later (the server starts
// each connector in its own goroutine) and reconciles it at its interval
// until ctx is done. Its results and missing-id listing are served from
// the start.
func (r *Reconciler) Watch(ctx context.Context, t ReconcileTarget) error {
	if err := r.init(); err != nil {
		return err
	}
	r.mu.Lock()
	r.targets = append(r.targets, &t)
	r.mu.Unlock()
	r.m.errors.WithLabelValues(t.Name)
	r.loop(ctx, &t)
	return nil
}

func (r *Reconciler) loop(ctx context.Context, t *ReconcileTarget) {
	if t.Interval <= 0 || len(t.Entities) == 0 {
		return
	}
	tick := time.NewTicker(t.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.reconcile(ctx, t)
		}
	}
}

// RunOnce reconciles every target (including those with no interval) once,
// now.
func (r *Reconciler) RunOnce(ctx context.Context) error {
	if err := r.init(); err != nil {
		return err
	}
	for _, t := range r.targetList() {
		r.reconcile(ctx, t)
	}
	return ctx.Err()
}

func (r *Reconciler) targetList() []*ReconcileTarget {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.targets)
}

func (r *Reconciler) reconcile(ctx context.Context, t *ReconcileTarget) {
	for _, ent := range t.Entities {
		res, err := r.compare(ctx, t, ent)
		if ctx.Err() != nil {
			return
		}
		key := [2]string{t.Name, ent}
		r.mu.Lock()
		if err != nil {
			prev := r.results[key]
			prev.Connector, prev.System, prev.Entity, prev.At, prev.Error = t.Name, t.System, ent, res.At, err.Error()
			r.results[key] = prev
		} else {
			r.results[key] = res
		}
		r.mu.Unlock()
		switch {
		case errors.Is(err, sdk.ErrNotSupported):
			r.Logger.Debug("reconciliation not supported", "connector", t.Name, "entity", ent)
		case err != nil:
			r.m.errors.WithLabelValues(t.Name).Inc()
			r.Logger.Warn("reconciliation failed", "connector", t.Name, "entity", ent, "err", err)
		default:
			r.m.source.WithLabelValues(t.Name, ent).Set(float64(res.SourceRecords))
			r.m.hubN.WithLabelValues(t.Name, ent).Set(float64(res.HubRecords))
			r.m.drift.WithLabelValues(t.Name, ent).Set(float64(res.Drift))
			r.m.dead.WithLabelValues(t.Name, ent).Set(float64(res.DeadLettersOpen))
			r.m.movedUnread.WithLabelValues(t.Name, ent).Set(float64(res.MovedUnreadCount))
			if res.Reread {
				r.m.reread.WithLabelValues(t.Name, ent).Add(float64(res.MovedUnreadCount))
			}
			if res.MovedUnreadCount > 0 {
				r.Logger.Warn("reconciliation: records whose version moved behind the source's position", "connector", t.Name, "entity", ent,
					"records", res.MovedUnreadCount, "reread", res.Reread)
			}
			if res.Drift != 0 {
				r.Logger.Info("reconciliation drift", "connector", t.Name, "entity", ent,
					"source_records", res.SourceRecords, "hub_records", res.HubRecords, "dead_letters_open", res.DeadLettersOpen)
			}
		}
	}
	r.m.lastRun.WithLabelValues(t.Name).Set(float64(r.Now().UnixNano()) / 1e9)
}

func (r *Reconciler) compare(ctx context.Context, t *ReconcileTarget, ent string) (hub.ReconcileResult, error) {
	res := hub.ReconcileResult{Connector: t.Name, System: t.System, Entity: ent, At: r.Now().UTC()}
	// The hub is counted after the source: records the source gained in
	// between are more likely already on their way than records it lost.
	src, err := sdk.CountOf(ctx, t.Source, ent)
	if err != nil {
		return res, fmt.Errorf("count %s/%s in the source: %w", t.Name, ent, err)
	}
	n, err := r.Store.LiveRecordCount(ctx, t.System, ent)
	if err != nil {
		return res, err
	}
	dead, err := r.DeadLetters.OpenDeadLettersOf(ctx, t.Name, ent)
	if err != nil {
		return res, err
	}
	res.SourceRecords, res.HubRecords, res.Drift, res.DeadLettersOpen = src, n, src-n, dead
	if err := r.movedUnread(ctx, t, ent, &res); err != nil && !errors.Is(err, sdk.ErrNotSupported) {
		return res, err
	}
	return res, nil
}

// movedLimit bounds the ids a result names (the count is whole).
const movedLimit = 100

// movedUnread finds the source's live records whose version is newer than
// the one the hub holds while they lie behind the source's position, and
// asks the source to read them again (unless the target's NoReread). A full pass over
// the source's keys and versions, a page at a time, and a lookup of the
// hub's versions per page: a round costs one read of the key and cursor
// columns and one indexed lookup per record.
func (r *Reconciler) movedUnread(ctx context.Context, t *ReconcileTarget, ent string, res *hub.ReconcileResult) error {
	vs, ok := t.Source.(sdk.VersionReconciler)
	store, sok := r.Store.(ReconcileVersions)
	if !ok || !sok {
		return sdk.ErrNotSupported
	}
	var moved []string
	after := ""
	for {
		ids, versions, last, err := vs.VersionsBehind(ctx, ent, after, keyPage)
		if err != nil {
			return fmt.Errorf("versions of %s/%s in the source: %w", t.Name, ent, err)
		}
		if len(ids) > 0 {
			held, err := store.SourceVersions(ctx, t.System, ent, ids)
			if err != nil {
				return err
			}
			for i, id := range ids {
				// Only records the hub holds: one it lacks is listed by
				// the missing-id listing (and may be a dead letter).
				if v, ok := held[id]; ok && versions[i].UnixNano() > v {
					moved = append(moved, id)
				}
			}
		}
		if last == "" {
			break
		}
		after = last
	}
	res.MovedUnreadCount = int64(len(moved))
	res.MovedUnread = moved[:min(len(moved), movedLimit)]
	if len(moved) == 0 || t.NoReread {
		return nil
	}
	if err := vs.Reread(ctx, ent, moved); err != nil {
		return fmt.Errorf("re-read %s/%s: %w", t.Name, ent, err)
	}
	res.Reread = true
	return nil
}

// ReconcileResults returns the latest result per connector and entity,
// ordered by both.
func (r *Reconciler) ReconcileResults(context.Context) ([]hub.ReconcileResult, error) {
	if err := r.init(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	out := make([]hub.ReconcileResult, 0, len(r.results))
	for _, v := range r.results {
		out = append(out, v)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Connector != out[j].Connector {
			return out[i].Connector < out[j].Connector
		}
		return out[i].Entity < out[j].Entity
	})
	return out, nil
}

// keyPage is how many ids one Keys or LiveSourceIDs call asks for.
const keyPage = 1000

// MissingIDs lists the ids the hub lacks and the ids it holds live that
// the source no longer has, each up to limit. The source's keys come in
// its own order (a database orders integer keys numerically), the hub's
// in byte order, so the source's side is collected into a set first and
// the hub's walked against it: memory grows with the source entity's size,
// bounded by MaxKeys.
func (r *Reconciler) MissingIDs(ctx context.Context, connector, entity string, limit int) (*hub.MissingIDs, error) {
	if err := r.init(); err != nil {
		return nil, err
	}
	var t *ReconcileTarget
	for _, x := range r.targetList() {
		if x.Name == connector {
			t = x
		}
	}
	if t == nil || !slices.Contains(t.Entities, entity) {
		return nil, fmt.Errorf("reconcile %s/%s: %w", connector, entity, hub.ErrNotFound)
	}
	if limit <= 0 {
		limit = 100
	}
	out := &hub.MissingIDs{Connector: connector, Entity: entity, MissingInHub: []string{}, GoneFromSource: []string{}}
	inSource := map[string]struct{}{}
	after := ""
	for {
		page, err := sdk.KeysOf(ctx, t.Source, entity, after, keyPage)
		if errors.Is(err, sdk.ErrNotSupported) {
			return nil, fmt.Errorf("list keys of %s/%s: %w", connector, entity, err)
		}
		if err != nil {
			return nil, fmt.Errorf("list keys of %s/%s in the source: %w", connector, entity, err)
		}
		for _, k := range page {
			inSource[k] = struct{}{}
		}
		out.SourceKeys += int64(len(page))
		if len(inSource) > r.MaxKeys {
			return nil, fmt.Errorf("list keys of %s/%s: more than %d keys, too many to compare in memory", connector, entity, r.MaxKeys)
		}
		if len(page) < keyPage {
			break
		}
		after = page[len(page)-1]
	}
	after = ""
	for {
		page, err := r.Store.LiveSourceIDs(ctx, t.System, entity, after, keyPage)
		if err != nil {
			return nil, err
		}
		for _, id := range page {
			if _, ok := inSource[id]; ok {
				delete(inSource, id)
				continue
			}
			if len(out.GoneFromSource) < limit {
				out.GoneFromSource = append(out.GoneFromSource, id)
			} else {
				out.Truncated = true
			}
		}
		out.HubKeys += int64(len(page))
		if len(page) < keyPage {
			break
		}
		after = page[len(page)-1]
	}
	for id := range inSource {
		out.MissingInHub = append(out.MissingInHub, id)
	}
	slices.Sort(out.MissingInHub)
	if len(out.MissingInHub) > limit {
		out.MissingInHub, out.Truncated = out.MissingInHub[:limit], true
	}
	return out, nil
}

// SettingsEntities reads the entity names of a connector's `entities`
// setting (a list of objects with a `name`), as the sql and rest
// connectors declare them.
func SettingsEntities(settings map[string]any) []string {
	list, _ := settings["entities"].([]any)
	var out []string
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			if n, ok := m["name"].(string); ok && n != "" {
				out = append(out, n)
			}
		}
	}
	return out
}
