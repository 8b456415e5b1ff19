package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/auth"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/console"
	"github.com/crmhub/crmhub/hub/httpapi"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/store/deadletters"
	"github.com/crmhub/crmhub/hub/store/ledger"
	"github.com/crmhub/crmhub/hub/writeback"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/host"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// LocalActor is who steward actions run as when authentication is off.
const LocalActor = "local"

// Options configure a Server.
type Options struct {
	Config   *config.Config
	Builtins map[string]sdk.Connector
	// SelfCmd re-executes this binary as a plugin (default: the host's).
	SelfCmd []string
	// Actor names who makes a steward request (merge, unmerge, review
	// decisions); without it those routes answer 403.
	Actor  func(*http.Request) (string, bool)
	Logger *slog.Logger
	// OwnProcess: the hub is the process's whole work (`crmhub run`), so
	// Start sets the Go runtime's memory limit from memory_mb. Left off
	// where the hub shares its process (tests, `crmhub bench` load
	// generators, the demo), whose memory is not the hub's to bound.
	OwnProcess bool
}

// Server is one running hub.
type Server struct {
	opts     Options
	cfg      *config.Config
	log      *slog.Logger
	registry *prometheus.Registry
	metrics  *pipeline.Metrics
	// syncReg holds the counters SyncCounters gathers, apart from the
	// registry and its store gauges.
	syncReg *prometheus.Registry
	// reconciler compares each source's counts with the hub's (issue 8).
	reconciler *pipeline.Reconciler
	// applier, when this instance applies: /readyz reports its pause.
	applier *pipeline.Apply
	// model estimates the person model from the store's records
	// (identity.fuzzy.people.estimate: auto); nil when the hub does not.
	model *modelEstimator

	store *store.Store
	// deadLetters: the dead_letters table of the store's database.
	deadLetters *deadletters.Store
	// ledger: write-back's ledger in the store's database, so hub
	// instances sharing it know what the others wrote.
	ledger *ledger.Store
	tokens *auth.Store
	bus    *bus.Bus
	host   *host.Host
	maps   atomic.Pointer[mapping.Set]

	listener net.Listener
	http     *http.Server

	mu     sync.Mutex
	states map[string]RunnerState

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errc   chan error
}

// RunnerState is how a connector instance is doing.
type RunnerState struct {
	State string `json:"state"` // starting | running | failed | stopped
	Error string `json:"error,omitempty"`
}

// New prepares a server; Start opens everything.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{opts: opts, cfg: opts.Config, log: log, states: map[string]RunnerState{}, errc: make(chan error, 1)}
}

// Start opens the store, the bus, the mappings and the plugin host, checks
// every connector's settings against its declaration (all problems at once,
// each naming file, line and key), then starts the runners and the API.
func (s *Server) Start(ctx context.Context) (err error) {
	cfg := s.cfg
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = pipeline.NewMetrics(s.registry)
	s.syncReg = prometheus.NewRegistry()
	s.syncReg.MustRegister(s.metrics.Consumed, s.metrics.DeadLetters)
	s.metrics.Progress.Interval = cfg.Log.ProgressInterval.D()

	s.host, err = host.New(host.Options{
		Builtins:    s.opts.Builtins,
		SelfCmd:     s.opts.SelfCmd,
		PluginDir:   cfg.Plugins.Dir,
		InProcess:   cfg.Plugins.InProcess,
		MaxRestarts: cfg.Plugins.MaxRestarts,
		BackoffMax:  cfg.Plugins.BackoffMax.D(),
		Registerer:  s.registry,
		Logger:      s.log,
	})
	if err != nil {
		return fmt.Errorf("plugin host: %w", err)
	}
	validated, err := s.checkConnectors()
	if err != nil {
		return err
	}
	set, err := mapping.LoadDir(cfg.Mappings.Dir)
	if err != nil {
		return fmt.Errorf("load mappings: %w", err)
	}
	s.maps.Store(set)

	idc, err := cfg.Identity.Resolver()
	if err != nil {
		return err
	}
	mem := applyMemoryBudget(cfg, s.opts.OwnProcess, s.log)
	s.store, err = store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN, store.Options{Identity: idc, Registerer: s.registry, Logger: s.log,
		SQLiteCacheMB: mem.SQLiteCacheMB, SQLiteMmapMB: mem.SQLiteMmapMB, SQLiteSoftHeapMB: mem.SQLiteSoftHeapMB,
		RecordCacheBytes: mem.RecordCacheBytes, Value: valueOptions(cfg.Value)})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	s.deadLetters = deadletters.New(s.store.DB())
	s.ledger = ledger.New(s.store.DB())
	// Registered without estimation too: the metrics catalog is the same
	// on every hub.
	model := newModelEstimator(s.store, cfg.Identity.Fuzzy.People, s.registry, s.log.With("component", "identity-model"))
	if autoModel(cfg) {
		s.model = model
		if err := s.model.load(ctx); err != nil {
			return fmt.Errorf("identity model: %w", err)
		}
	}
	if cfg.Runs(config.RoleApply) {
		if err := s.rescoreIfModelChanged(ctx); err != nil {
			return err
		}
	}
	s.bus, err = bus.Open(ctx, busConfig(cfg), s.registry, s.log)
	if err != nil {
		return fmt.Errorf("open kafka bus: %w", err)
	}

	topics := hub.Topics{Prefix: cfg.Kafka.TopicPrefix}
	dlMetrics, err := pipeline.NewDeadLetterMetrics(s.registry, s.deadLetters)
	if err != nil {
		return fmt.Errorf("dead-letter metrics: %w", err)
	}
	// Mappings: s, so a SIGHUP reload applies to replays too.
	deadLetters := &pipeline.DeadLetterService{Store: s.deadLetters, Mappings: s, Publisher: s.bus, Topics: topics,
		Metrics: dlMetrics, Logger: s.log.With("component", "deadletters")}

	s.listener, err = net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTP.Listen, err)
	}
	s.reconciler = &pipeline.Reconciler{Store: s.store, DeadLetters: s.deadLetters, Registerer: s.registry, Logger: s.log.With("component", "reconcile")}
	if err := s.reconciler.Init(); err != nil {
		return err
	}
	apiOpts := httpapi.Options{Gatherer: s.registry, Ready: s.ready, Logger: s.log,
		Changes: s.store, Steward: s.store, Actor: s.opts.Actor, DeadLetters: deadLetters, Reconciliation: s.reconciler,
		Writeback: s.ledger, Profiling: cfg.HTTP.PProf, Connectors: s.connectorStatus}
	if cfg.Auth.On() {
		if s.tokens, err = auth.Open(ctx, cfg.Store.Driver, cfg.Store.DSN, auth.Options{Registerer: s.registry, Logger: s.log}); err != nil {
			return fmt.Errorf("open token store: %w", err)
		}
		apiOpts.Auth = s.tokens // only when set: a nil *auth.Store in the interface would not be nil
	} else {
		s.log.Warn("API authentication is off (auth.enabled: false): anyone who reaches the listener reads every customer")
		// Steward actions still have a name in the audit.
		apiOpts.LocalActor = LocalActor
	}
	// The console (/console/) is served on the API's listener; its script
	// calls the API with the same tokens.
	var handler http.Handler = console.Mount(httpapi.New(s.store, apiOpts), console.Options{AuthRequired: cfg.Auth.On(), LocalActor: LocalActor})
	if !cfg.Runs(config.RoleAPI) {
		handler = probesOnly(handler, cfg.Roles)
	}
	s.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("http: %w", err))
		}
	}()

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	if cfg.Runs(config.RoleApply) {
		consumer := s.bus.NewConsumer(cfg.Hub.ConsumerGroup, topics.AllCanonical())
		s.applier = &pipeline.Apply{
			Consumer: consumer, Store: s.store, Publisher: s.bus, Topics: topics,
			BatchSize: cfg.Hub.BatchSize, BatchWait: cfg.Hub.BatchWait.D(), MaxBatchBytes: cfg.Memory().ApplyBatchBytes,
			Metrics: s.metrics, Logger: s.log,
		}
		s.background(rctx, "applier", consumer.Close, s.applier.Run)
		// While a sync applies or its figures are pending, a value change
		// waits (up to value.max_lag) for a later change of its golden to
		// carry the figures instead, and with the figures deferred an
		// upsert waits for its golden's recompute (docs/value.md, On the
		// golden change stream).
		var hold time.Duration
		if cfg.Value.On() {
			hold = cfg.Value.Lag()
		}
		marks := &pendingProbe{ask: s.store.ValueMarksPending, now: time.Now}
		busy := func() bool {
			return s.applyBusy() || marks.pending(rctx)
		}
		// Apply idle, the figures not settled: the last recompute pass of
		// a sync running, or the re-cut its growth made due (which
		// runValueRefresh takes within value.delay).
		cut := &pendingProbe{ask: func(ctx context.Context) (bool, error) {
			return s.store.ValueCutStale(ctx, false)
		}, now: time.Now}
		settling := func() bool {
			return !s.applyBusy() && (marks.pending(rctx) || cut.pending(rctx))
		}
		stream := &pipeline.GoldenStream{Feed: s.store, Customers: s.store,
			Positions: s.store, Publisher: s.bus, Topics: topics, Metrics: s.metrics, Logger: s.log.With("component", "golden-stream"),
			Hold: hold, Busy: busy, HoldUpserts: cfg.Value.On() && cfg.Value.Deferred(),
			Settling: settling}
		if cfg.Value.On() && cfg.Value.Deferred() {
			// Through the first fill's sweep, and then until the figures
			// settle (the re-cut it makes due): what the load's upserts
			// held were held since the load, far longer than Hold, and
			// would go out before that re-cut, then again with it.
			var filled atomic.Bool
			stream.Filling = func() bool {
				if s.store.ValueFilling() {
					filled.Store(true)
					return true
				}
				if filled.Load() && settling() {
					return true
				}
				filled.Store(false)
				return false
			}
		}
		if cfg.Value.On() {
			s.background(rctx, "value refresh", nil, s.runValueRefresh)
			if cfg.Value.Deferred() {
				s.background(rctx, "value recompute", nil, func(ctx context.Context) error { return s.runValueDrain(ctx, stream.Recomputed) })
			}
		}
		if s.model != nil {
			s.background(rctx, "identity model estimation", nil, func(ctx context.Context) error { return s.model.run(ctx, true) })
		}
		s.background(rctx, "golden change stream", nil, stream.Run)
		dlq := s.bus.NewConsumer(cfg.Hub.ConsumerGroup+"-deadletters", []string{topics.DeadLetter()})
		s.background(rctx, "dead-letter indexer", dlq.Close, (&pipeline.DeadLetterIndexer{Consumer: dlq, Store: s.deadLetters,
			Logger: s.log.With("component", "deadletter-indexer")}).Run)
	}
	if s.model != nil && !cfg.Runs(config.RoleApply) {
		// The API explains links with the model the appliers use.
		s.background(rctx, "identity model", nil, func(ctx context.Context) error { return s.model.run(ctx, false) })
	}
	if cfg.Runs(config.RoleConnectors) {
		for i, c := range cfg.Connectors {
			if c.Disabled {
				continue
			}
			s.startRunner(rctx, c, validated[i], topics)
		}
		if err := s.startWriteback(ctx, rctx, set, topics); err != nil {
			return err
		}
	} else {
		// Registered all the same: the metrics catalog is the same on
		// every instance, and the dashboards aggregate across roles.
		writeback.NewMetrics(s.registry)
		writeback.RegisterTotals(s.registry, s.ledger)
	}
	roles := cfg.Roles
	if len(roles) == 0 {
		roles = []string{config.RoleAll}
	}
	attrs := []any{"http", s.HTTPAddr(), "kafka", s.bus.Brokers(), "store", cfg.Store.Driver,
		"roles", strings.Join(roles, ","), "connectors", len(cfg.Connectors), "mappings", len(set.All())}
	if cfg.Runs(config.RoleAPI) {
		attrs = append(attrs, "console", "http://"+s.HTTPAddr()+"/console/")
	}
	s.log.Info("crmhub started", attrs...)
	return nil
}

// probesOnly serves the probes, /metrics and the profiles of an instance
// without the api role, and for every other path says where the API is.
func probesOnly(h http.Handler, roles []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/healthz", p == "/readyz", p == "/metrics", strings.HasPrefix(p, "/debug/pprof/"),
			p == "/v1/connectors": // the runners' status lives on the connectors instance
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "not_found",
			"message": fmt.Sprintf("this instance runs the roles %s; the API is served by instances with the role api", strings.Join(roles, ","))}})
		_, _ = w.Write(b)
	})
}

// background runs one of the hub's loops until the server closes; a loop
// that ends with an error stops the hub, because without it records would
// pile up unseen. done, when set, runs after the loop (closing its consumer).
func (s *Server) background(ctx context.Context, what string, done func() error, run func(context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if done != nil {
			defer done()
		}
		if err := run(ctx); err != nil {
			s.fail(fmt.Errorf("%s: %w", what, err))
		}
	}()
}

// checkConnectors validates every instance's settings, nested ones
// included, against its connector's declaration and reports every problem
// at once (config.CheckConnectors).
func (s *Server) checkConnectors() ([]sdk.Config, error) {
	return config.CheckConnectors(s.cfg, s.host.Spec)
}

func (s *Server) startRunner(ctx context.Context, c config.Connector, settings sdk.Config, topics hub.Topics) {
	s.setState(c.Name, RunnerState{State: "starting"})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		src, err := s.host.Source(ctx, c.Name, c.Plugin)
		if err != nil {
			s.log.Error("connector failed to start", "connector", c.Name, "err", err)
			s.setState(c.Name, RunnerState{State: "failed", Error: err.Error()})
			return
		}
		s.setState(c.Name, RunnerState{State: "running"})
		go s.reconciler.Watch(ctx, pipeline.ReconcileTarget{Name: c.Name, System: c.System, Source: src,
			Entities: pipeline.SettingsEntities(settings), Interval: c.Reconcile(), NoReread: c.ReconcileReread != nil && !*c.ReconcileReread})
		r := &pipeline.Source{
			Name: c.Name, System: c.System, Source: src, Config: settings, Mappings: s, Publisher: s.bus,
			Positions: s.store, Topics: topics, BatchSize: c.BatchSize, MaxBatchBytes: c.MaxBatchBytes, PollInterval: c.PollInterval.D(),
			IsPermanent: func(err error) bool { return errors.Is(err, host.ErrFailed) },
			Metrics:     s.metrics, Logger: s.log,
		}
		if err := r.Run(ctx); err != nil {
			// One connector failing never stops the others.
			s.log.Error("connector stopped", "connector", c.Name, "err", err)
			s.setState(c.Name, RunnerState{State: "failed", Error: err.Error()})
			return
		}
		s.setState(c.Name, RunnerState{State: "stopped"})
	}()
}

// Lookup serves the current mapping set to the runners; a reload swaps it
// atomically, so runners pick it up on their next record.
func (s *Server) Lookup(system, entity string) (*mapping.Mapping, bool) {
	return s.maps.Load().Lookup(system, entity)
}

// ReloadMappings loads the mapping directory again. A broken new version is
// refused and the running set is kept.
func (s *Server) ReloadMappings() error {
	set, err := mapping.LoadDir(s.cfg.Mappings.Dir)
	if err != nil {
		s.log.Error("mapping reload refused, keeping the running mappings", "err", err)
		return fmt.Errorf("reload mappings: %w", err)
	}
	s.maps.Store(set)
	s.log.Info("mappings reloaded", "mappings", len(set.All()))
	return nil
}

func (s *Server) setState(name string, st RunnerState) {
	s.mu.Lock()
	s.states[name] = st
	s.mu.Unlock()
}

// States reports every connector instance's runner state.
func (s *Server) States() map[string]RunnerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]RunnerState, len(s.states))
	for k, v := range s.states {
		out[k] = v
	}
	return out
}

func (s *Server) ready(ctx context.Context) map[string]error {
	out := map[string]error{"store": s.store.Ping(ctx), "kafka": s.bus.Ping(ctx)}
	if s.applier != nil {
		// A store that answers pings may still refuse writes (read-only,
		// full): the applier knows.
		out["applier"] = s.applier.Paused()
	}
	for name, st := range s.States() {
		var err error
		if st.State == "failed" {
			err = fmt.Errorf("connector failed: %s", st.Error)
		}
		out["connector:"+name] = err
	}
	return out
}

func (s *Server) fail(err error) {
	select {
	case s.errc <- err:
	default:
	}
}

// Err delivers a fatal error of a background part (the HTTP listener, the applier).
func (s *Server) Err() <-chan error { return s.errc }

// HTTPAddr is where the API listens (useful with port 0).
func (s *Server) HTTPAddr() string {
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Store gives tests and commands the running store.
func (s *Server) Store() *store.Store { return s.store }

// Bus gives tests and commands the running bus.
func (s *Server) Bus() *bus.Bus { return s.bus }

// Registry is the server's metrics registry.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// SyncCounters gathers the two counters that say how far a sync got:
// records consumed by the hub and records dead-lettered. Gathering the
// whole registry for them refreshed the store's size gauges, which count
// whole tables, as often as their cache allows: polled every 50 ms that
// was every 2-5 s, 5-6% of the hub's CPU in bench sync, where Prometheus
// (deploy/prometheus, every 15 s) refreshes them a third as often.
func (s *Server) SyncCounters() ([]*dto.MetricFamily, error) {
	return s.syncReg.Gather()
}

// Close stops the runners (which checkpoint what is durable), the API, the
// plugins, the bus and the store, in that order.
func (s *Server) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var errs []error
	if s.http != nil {
		errs = append(errs, s.http.Shutdown(ctx))
	}
	if s.host != nil {
		errs = append(errs, s.host.Close(ctx))
	}
	if s.bus != nil {
		errs = append(errs, s.bus.Close())
	}
	if s.tokens != nil {
		errs = append(errs, s.tokens.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

func busConfig(cfg *config.Config) bus.Config {
	b := bus.Config{
		Brokers:         cfg.Kafka.Brokers,
		EmbeddedListen:  cfg.Kafka.EmbeddedListen,
		DataDir:         filepath.Join(cfg.DataDir, "kafka"),
		TopicPrefix:     cfg.Kafka.TopicPrefix,
		Partitions:      cfg.Kafka.Partitions,
		ClientID:        cfg.Kafka.ClientID,
		MaxMessageBytes: cfg.Kafka.MaxMessageBytes,
		Compression:     cfg.Kafka.Compression,
		FetchMaxBytes:   cfg.Memory().FetchMaxBytes,
	}
	if t := cfg.Kafka.TLS; t != nil {
		b.TLS = &bus.TLSConfig{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
			InsecureSkipVerify: t.InsecureSkipVerify, ServerName: t.ServerName}
	}
	if s := cfg.Kafka.SASL; s != nil {
		b.SASL = &bus.SASLConfig{Mechanism: s.Mechanism, Username: s.Username, Password: s.Password}
	}
	return b
}

// startWriteback checks the write-back targets (settings against the
// destination's declaration, each error with file, line and key; the reverse
// mapping by name) and starts one writer per target, each its own consumer
// group crmhub-writeback-<name> on the golden changes topic.
func (s *Server) startWriteback(ctx, rctx context.Context, set *mapping.Set, topics hub.Topics) error {
	cfg := s.cfg
	if err := config.CheckTargets(cfg); err != nil {
		return err
	}
	var errs []error
	type ready struct {
		t        config.Target
		m        *mapping.Mapping
		settings sdk.Config
	}
	var run []ready
	for i, t := range cfg.Targets {
		if t.Disabled {
			continue
		}
		where := fmt.Sprintf("%s:%d: targets[%d]", cfg.File, t.Line, i)
		m, ok := set.ByName(t.Mapping)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s.mapping: no mapping named %q in %s", where, t.Mapping, cfg.Mappings.Dir))
		case !m.Reverse():
			errs = append(errs, fmt.Errorf("%s.mapping: %q is not a reverse mapping (want source: {entity: customer}, target: {system, entity})", where, t.Mapping))
		}
		spec, err := s.host.Spec(t.Plugin)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.plugin: %w", where, err))
			continue
		}
		if !slices.Contains(spec.Kinds, sdk.KindDestination) {
			errs = append(errs, fmt.Errorf("%s.plugin: connector %s cannot write (not a destination)", where, t.Plugin))
			continue
		}
		v, err := spec.ValidateFor(sdk.KindDestination, sdk.Config(t.Settings))
		if err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("%s: %w", t.Where(cfg.File, paramName(e)), e))
			}
			continue
		}
		run = append(run, ready{t, m, v})
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", config.ErrInvalid, errors.Join(errs...))
	}
	// Registered without targets too: the metrics catalog lists them.
	metrics := writeback.NewMetrics(s.registry)
	writeback.RegisterTotals(s.registry, s.ledger)
	if len(run) == 0 {
		return nil
	}
	for _, r := range run {
		name := "writeback:" + r.t.Name
		s.setState(name, RunnerState{State: "starting"})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			log := s.log.With("component", "writeback", "target", r.t.Name)
			dest, err := s.host.Destination(rctx, name, r.t.Plugin)
			if err == nil {
				if err = dest.Configure(rctx, r.settings); err == nil {
					err = dest.Open(rctx)
				}
				defer dest.Teardown(context.WithoutCancel(rctx))
			}
			if err != nil {
				log.Error("write-back target failed to start", "err", err)
				s.setState(name, RunnerState{State: "failed", Error: err.Error()})
				return
			}
			consumer := s.bus.NewConsumer("crmhub-writeback-"+r.t.Name, []string{topics.GoldenChanges()})
			defer consumer.Close()
			s.setState(name, RunnerState{State: "running"})
			w := &writeback.Writer{
				Target: writeback.Target{Name: r.t.Name, System: r.t.System, Entity: r.t.Entity, Mapping: r.m,
					Fields: r.t.Fields, Touch: r.t.Touch, Create: r.t.Create, OnConflict: r.t.OnConflict, MaxConflictTries: r.t.MaxConflictTries,
					Whole: r.t.Write == "whole"},
				Destination: dest, Consumer: consumer, Ledger: s.ledger, States: s.store, Publisher: s.bus, Topics: topics,
				BatchSize: r.t.BatchSize, BatchWait: r.t.BatchWait.D(), Metrics: metrics,
				// The writer names its target in every line itself.
				Logger: s.log.With("component", "writeback"),
				// A SIGHUP reload reaches running writers too.
				Mappings: func(name string) (*mapping.Mapping, bool) { return s.maps.Load().ByName(name) },
			}
			if err := w.Run(rctx); err != nil {
				log.Error("write-back stopped", "err", err)
				s.setState(name, RunnerState{State: "failed", Error: err.Error()})
				return
			}
			s.setState(name, RunnerState{State: "stopped"})
		}()
	}
	return nil
}

// rescoreIfModelChanged scores the store's fuzzy links again when the
// identity model (fuzzy configuration, person model) is not the one they
// were scored with, before anything is applied: golden customers then
// depend on the records and the model, not on when the model changed.
func (s *Server) rescoreIfModelChanged(ctx context.Context) error {
	changed, err := s.store.ModelChanged(ctx)
	if err != nil {
		return fmt.Errorf("identity model: %w", err)
	}
	if !changed {
		return nil
	}
	s.log.Info("identity model changed: scoring the store's fuzzy links again and re-clustering its customers")
	start, last := time.Now(), time.Now()
	st, err := s.store.Rescore(ctx, func(pass string, done, total int) {
		if time.Since(last) >= 10*time.Second || done == total {
			last = time.Now()
			s.log.Info("identity rescore progress", "pass", pass, "records", done, "of", total)
		}
	})
	if err != nil {
		return fmt.Errorf("identity model changed: %w", err)
	}
	s.log.Info("identity rescore done", "took", time.Since(start).Round(time.Millisecond),
		"golden_created", st.GoldenCreated, "golden_merged", st.GoldenMerged)
	return nil
}
