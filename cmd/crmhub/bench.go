package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/internal/app/demohub"
)

func init() { register(newBenchCmd) }

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Measure crmhub on generated data"}
	var o syncBenchOpts
	sync := &cobra.Command{
		Use:   "sync",
		Short: "Sync generated sample systems end to end and report records/s and identity quality",
		Long: `Generate the demo's sample systems with --people real customers, run the whole hub on them
(plugin processes, embedded Kafka, the store) until every record is applied or dead-lettered, then
print the throughput from source to golden store and the pairwise precision, recall and F1 of
identity resolution against the generator's ground truth. With --value deferred (the default, as
crmhub run) it also waits until the customer value figures have settled (every deferred mark
recomputed) and prints that time too; --value off runs the hub without them. Last it waits until
the golden change stream has published the whole feed and prints that time and CPU too.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.progress = cmd.ErrOrStderr()
			r, err := runSyncBench(cmd.Context(), o)
			if err != nil {
				return err
			}
			if err := r.print(cmd.OutOrStdout(), o.json); err != nil {
				return err
			}
			if !o.json {
				printSplits(cmd.OutOrStdout(), r.Splits)
			}
			return nil
		},
	}
	sync.Flags().IntVar(&o.people, "people", 2000, "real customers to generate")
	sync.Flags().Int64Var(&o.seed, "seed", 1, "generator seed")
	sync.Flags().StringVar(&o.dir, "dir", "", "work directory (default: a temporary one, removed after)")
	sync.Flags().BoolVar(&o.inProcess, "in-process", false, "run built-in connectors in the hub process instead of plugin processes")
	sync.Flags().StringVar(&o.store, "store", "sqlite", "sqlite or postgres")
	sync.Flags().StringVar(&o.dsn, "dsn", "", "store DSN (postgres; default $CRMHUB_POSTGRES_DSN); use an empty database or schema, the figures count what it holds")
	sync.Flags().BoolVar(&o.json, "json", false, "print the result as JSON")
	sync.Flags().BoolVar(&o.estimate, "estimate", true, "run the hub with identity.fuzzy.people.estimate: auto (the default config), and score the model it settles on; --estimate=false runs it with estimate: off (the fixed defaults)")
	sync.Flags().DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	sync.Flags().StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the hub process from start to the golden change stream caught up to this file (go tool pprof)")
	sync.Flags().StringVar(&o.memProfile, "memprofile", "", "write the allocation profile of the process, from its start (the sample systems generated included) to the golden change stream caught up, to this file (go tool pprof -sample_index=alloc_space)")
	sync.Flags().StringVar(&o.value, "value", "deferred", "customer value figures: deferred (the default of crmhub run), sync, or off (value.enabled: false)")
	sync.Flags().IntVarP(&o.verbose, "verbose", "v", 0, "print this many pairs of one person's records left in two golden customers, with the evidence of the settled and the configured model")
	sync.Flags().IntVar(&o.serverPID, "server-pid", 0, "also count the CPU of the database server on this machine: this process (PostgreSQL's postmaster: pgrep -o -x postgres) and its children, read from /proc (Linux); the hub's own CPU leaves out the statements it hands the server")
	sync.Flags().IntVar(&o.memoryMB, "memory-mb", 0, "the hub's memory_mb budget (0: the default, -1: none)")
	sync.Flags().IntVar(&o.sqliteCacheMB, "sqlite-cache-mb", 0, "store.sqlite_cache_mb: SQLite's page caches, half the writer's (0: memory_mb's share)")
	sync.Flags().StringVar(&o.settleProfile, "settle-cpuprofile", "", "write a CPU profile of settling the identity model after the sync (--estimate) to this file")
	cmd.AddCommand(sync, newBenchLatencyCmd(), newBenchAPICmd(), newBenchQualityCmd(), newBenchPipelineCmd())
	return cmd
}

type syncBenchOpts struct {
	people        int
	seed          int64
	dir, store    string
	dsn           string
	memoryMB      int
	sqliteCacheMB int
	inProcess     bool
	estimate      bool
	json          bool
	timeout       time.Duration
	cpuProfile    string
	memProfile    string
	settleProfile string
	value         string // deferred, sync or off
	verbose       int
	serverPID     int // a local database server whose CPU counts too (0: none)
	// progress, when set, hears the timings as soon as they are taken:
	// what follows (counts, identity scoring) can take minutes, on a
	// PostgreSQL server without statistics far longer, and a run cut
	// short there kept none of them.
	progress io.Writer
}

// timingsLine is the progress line of a sync bench's timings.
func timingsLine(synced, syncedCPU, settled, settledCPU time.Duration) string {
	line := fmt.Sprintf("bench: synced %.1f s (%.1f CPU-s)", synced.Seconds(), syncedCPU.Seconds())
	if settled > 0 {
		line += fmt.Sprintf(", value figures settled %.1f s (%.1f CPU-s)", settled.Seconds(), settledCPU.Seconds())
	}
	return line + "\n"
}

type syncBenchResult struct {
	People        int         `json:"people"`
	Records       int         `json:"source_records"`
	DeadLetters   int         `json:"dead_letters"`
	Seconds       float64     `json:"seconds"`
	RecordsPerSec float64     `json:"records_per_second"`
	Golden        int64       `json:"golden_customers"`
	Identity      demo.Score  `json:"identity"`
	Deterministic demo.Score  `json:"identity_deterministic"`
	Reviews       reviewTally `json:"review_queue"`
	Store         string      `json:"store"`
	Plugins       string      `json:"plugins"`
	Model         benchModel  `json:"identity_model"`
	// Value is the value.mode the hub ran with (or off); CPUSeconds the
	// hub process's CPU from start to all applied. With the figures
	// deferred, Settled* is to the last deferred mark recomputed.
	Value             string  `json:"value"`
	CPUSeconds        float64 `json:"cpu_seconds"`
	SettledSeconds    float64 `json:"settled_seconds,omitempty"`
	SettledPerSec     float64 `json:"settled_records_per_second,omitempty"`
	SettledCPUSeconds float64 `json:"settled_cpu_seconds,omitempty"`
	PendingAtSynced   int     `json:"value_marks_pending_at_synced"`
	// Published* is to the golden change stream caught up with the feed
	// (after settled, or after applied with the figures off).
	PublishedSeconds    float64 `json:"published_seconds"`
	PublishedCPUSeconds float64 `json:"published_cpu_seconds"`
	// Server* is the database server's CPU (--server-pid) over the same
	// spans: to all applied, settled and published.
	ServerPID                 int     `json:"server_pid,omitempty"`
	ServerCPUSeconds          float64 `json:"server_cpu_seconds,omitempty"`
	SettledServerCPUSeconds   float64 `json:"settled_server_cpu_seconds,omitempty"`
	PublishedServerCPUSeconds float64 `json:"published_server_cpu_seconds,omitempty"`
	// Splits are sample split pairs (-v).
	Splits []splitSample `json:"split_samples,omitempty"`
}

// benchModel is the person model the hub settled on after the sync
// (identity.fuzzy.people.estimate: auto) and what settling took.
type benchModel struct {
	Version  int     `json:"version"`                // 0: the defaults
	Off      bool    `json:"estimate_off,omitempty"` // --estimate=false: estimate: off
	Persons  int     `json:"person_records"`
	Rescored bool    `json:"rescored"`
	Seconds  float64 `json:"seconds"`
	// Where settling's time went: the estimate, the rescore's links pass
	// (every customer record) and its customers pass (those re-clustered).
	EstimateSeconds  float64 `json:"estimate_seconds"`
	LinksSeconds     float64 `json:"links_seconds"`
	CustomersSeconds float64 `json:"customers_seconds"`
	Relinked         int     `json:"relinked"`
	Reclustered      int     `json:"reclustered"`
}

func (r syncBenchResult) print(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "people %d, source records %d (%d dead-lettered on purpose), store %s, connectors %s\n",
		r.People, r.Records, r.DeadLetters, r.Store, r.Plugins)
	fmt.Fprintf(w, "sync: %.1f s, %.0f records/s from source to golden store, %d golden customers; hub process %.1f CPU-s, %.1f µs per record\n",
		r.Seconds, r.RecordsPerSec, r.Golden, r.CPUSeconds, r.CPUSeconds*1e6/float64(r.Records))
	switch {
	case r.Value == "off":
		fmt.Fprintf(w, "value figures: off\n")
	case r.SettledSeconds > 0:
		fmt.Fprintf(w, "value figures: %s, %d customer marks pending when all records were applied; settled at %.1f s, %.0f records/s, hub process %.1f CPU-s, %.1f µs per record\n",
			r.Value, r.PendingAtSynced, r.SettledSeconds, r.SettledPerSec, r.SettledCPUSeconds, r.SettledCPUSeconds*1e6/float64(r.Records))
	default:
		fmt.Fprintf(w, "value figures: %s, settled when all records were applied\n", r.Value)
	}
	fmt.Fprintf(w, "golden change stream caught up at %.1f s, hub process %.1f CPU-s\n", r.PublishedSeconds, r.PublishedCPUSeconds)
	if r.ServerPID != 0 {
		line := fmt.Sprintf("database server (pid %d): %.1f CPU-s to all applied", r.ServerPID, r.ServerCPUSeconds)
		if r.SettledSeconds > 0 {
			line += fmt.Sprintf(", %.1f to settled", r.SettledServerCPUSeconds)
		}
		fmt.Fprintf(w, "%s, %.1f to the stream caught up\n", line, r.PublishedServerCPUSeconds)
	}
	if r.Model.Off {
		fmt.Fprintf(w, "identity model: the defaults (estimate: off)\n")
	} else if r.Model.Version == 0 {
		fmt.Fprintf(w, "identity model: the defaults (%d person records in the estimate's sample, below the minimum)\n", r.Model.Persons)
	} else {
		fmt.Fprintf(w, "identity model: version %d, estimated on %d person records; settling after the sync (estimate, rescore %v) took %.1f s, not counted above\n",
			r.Model.Version, r.Model.Persons, r.Model.Rescored, r.Model.Seconds)
		fmt.Fprintf(w, "  estimate %.1f s, links pass %.1f s (%d records), customers pass %.1f s (%d records re-clustered)\n",
			r.Model.EstimateSeconds, r.Model.LinksSeconds, r.Model.Relinked, r.Model.CustomersSeconds, r.Model.Reclustered)
	}
	fmt.Fprintf(w, "identity (all):           precision %.4f  recall %.4f  F1 %.4f  false merges %d  splits %d  tax-id conflicts %d\n",
		r.Identity.Precision, r.Identity.Recall, r.Identity.F1, r.Identity.FalseMerges, r.Identity.Splits, r.Identity.TaxIDConflicts)
	fmt.Fprintf(w, "identity (deterministic): precision %.4f  recall %.4f  F1 %.4f\n",
		r.Deterministic.Precision, r.Deterministic.Recall, r.Deterministic.F1)
	fmt.Fprintf(w, "review queue: %d pairs, %d of them the same real entity\n", r.Reviews.Pairs, r.Reviews.SameEntity)
	return nil
}

// reviewTally is the review queue against the truth: what a steward
// would find waiting, and how much of it is worth accepting.
type reviewTally struct {
	Pairs      int `json:"pairs"`
	SameEntity int `json:"same_entity"`
}

// reviewLister pages through the review queue.
type reviewLister interface {
	Reviews(ctx context.Context, afterA, afterB string, limit int) ([]hub.Review, error)
}

func tallyReviews(ctx context.Context, st reviewLister, tr *demo.Truth) (reviewTally, error) {
	entity := make(map[string]string, len(tr.Records))
	for _, rec := range tr.Records {
		entity[rec.Key()] = rec.PersonID
	}
	var t reviewTally
	var afterA, afterB string
	for {
		page, err := st.Reviews(ctx, afterA, afterB, 500)
		if err != nil {
			return t, fmt.Errorf("review queue: %w", err)
		}
		for _, r := range page {
			t.Pairs++
			if e := entity[r.A]; e != "" && e == entity[r.B] {
				t.SameEntity++
			}
		}
		if len(page) < 500 {
			return t, nil
		}
		afterA, afterB = page[len(page)-1].A, page[len(page)-1].B
	}
}

func runSyncBench(ctx context.Context, o syncBenchOpts) (*syncBenchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "crmhub-bench")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	switch o.store {
	case "sqlite":
	case "postgres":
		if o.dsn == "" {
			o.dsn = os.Getenv("CRMHUB_POSTGRES_DSN")
		}
		if o.dsn == "" {
			return nil, fmt.Errorf("bench: --store postgres needs --dsn or $CRMHUB_POSTGRES_DSN")
		}
	default:
		return nil, fmt.Errorf("bench: --store %q: want sqlite or postgres", o.store)
	}
	switch o.value {
	case "deferred", "sync", "off":
	default:
		return nil, fmt.Errorf("bench: --value %q: want deferred, sync or off", o.value)
	}
	man, err := demo.Generate(ctx, demo.Options{Dir: dir, Seed: o.seed, People: o.people})
	if err != nil {
		return nil, err
	}
	stopProfile, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return nil, err
	}
	defer stopProfile()
	// The server's CPU is read where the hub's is; a server that cannot
	// be read fails the bench before it starts, not after it ran.
	var srvErr error
	serverAt := func() time.Duration {
		if o.serverPID == 0 || srvErr != nil {
			return 0
		}
		d, err := serverCPU(o.serverPID)
		if err != nil {
			srvErr = fmt.Errorf("bench: %w", err)
		}
		return d
	}
	srv0 := serverAt()
	if srvErr != nil {
		return nil, srvErr
	}
	start, cpu0 := time.Now(), processCPU()
	r, err := demohub.Start(ctx, demohub.RunOptions{Dir: dir, InProcess: o.inProcess,
		Logger: newLogger(config.Log{Level: "warn"}),
		Configure: func(c *config.Config) {
			if o.store == "postgres" {
				c.Store.Driver, c.Store.DSN = "postgres", o.dsn
			}
			c.MemoryMB, c.Store.SQLiteCacheMB = o.memoryMB, o.sqliteCacheMB
			c.Identity.Fuzzy.People.Estimate = config.EstimateOff
			if o.estimate {
				c.Identity.Fuzzy.People.Estimate = config.EstimateAuto
			}
			switch o.value {
			case "off":
				off := false
				c.Value.Enabled = &off
			default:
				c.Value.Mode = o.value
			}
		}})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// Scraped as deploy/prometheus scrapes a hub, so that the store's size
	// gauges cost what they cost in production: the bench's own polls
	// read only the counters they need (demohub.Synced).
	stopScrape := scrapeMetrics(ctx, "http://"+r.Server.HTTPAddr()+"/metrics", promScrapeInterval)
	defer stopScrape()
	if err := r.WaitSynced(ctx); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	elapsed, cpu, srvCPU := time.Since(start), processCPU()-cpu0, serverAt()-srv0
	// From here the hub's idle estimate of the person model waits and the
	// bench settles the model itself after the figures and the golden
	// stream (a quiet moment while it waited for them let the loop
	// estimate and rescore there, counted as their work).
	resumeModel := r.Server.PauseIdentityModel()
	defer resumeModel()
	var settled struct {
		pending      int
		at, cpu, srv time.Duration
	}
	if o.value != "off" {
		if settled.pending, err = r.Server.Store().ValuePending(ctx); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		// The deferred recompute runs every value.delay on the customers
		// that stopped changing: all of them now. Polled on the read pool,
		// so the poll does not queue behind the writer, and by a one-row
		// read: counting every mark each 50 ms was 0.44 s of PostgreSQL's
		// CPU in a 6 s settle.
		for left := settled.pending > 0; left; {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("bench: value marks still pending: %w", ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
			if left, err = r.Server.Store().ValueMarksPending(ctx); err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
		}
		if settled.pending > 0 {
			settled.at, settled.cpu, settled.srv = time.Since(start), processCPU()-cpu0, serverAt()-srv0
		}
	}
	if o.progress != nil {
		fmt.Fprint(o.progress, timingsLine(elapsed, cpu, settled.at, settled.cpu))
	}
	// The golden change stream publishes after the store commits (and
	// holds value changes while a sync applies or figures are pending):
	// its work counts until it has caught up with the feed.
	for {
		done, err := pipeline.GoldenStreamCaughtUp(ctx, r.Server.Store(), r.Server.Store())
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: golden stream behind: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	published, publishedCPU, publishedSrv := time.Since(start), processCPU()-cpu0, serverAt()-srv0
	stopScrape()
	if srvErr != nil {
		return nil, srvErr
	}
	stopProfile()
	if err := writeAllocProfile(o.memProfile); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if o.progress != nil {
		fmt.Fprintf(o.progress, "golden stream caught up at %.1f s (%.1f CPU-s)\n", published.Seconds(), publishedCPU.Seconds())
	}
	// The hub estimates its person model when idle; the figures below are
	// those of the model it settles on, so settle now instead of waiting.
	stopSettleProfile, err := startCPUProfile(o.settleProfile)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	settleStart := time.Now()
	sm, err := r.Server.SettleIdentityModel(ctx)
	stopSettleProfile()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	model := benchModel{Off: !o.estimate, Persons: sm.Persons, Rescored: sm.Rescored, Seconds: time.Since(settleStart).Seconds(),
		EstimateSeconds: sm.Took.Estimate.Seconds(), LinksSeconds: sm.Took.Links.Seconds(),
		CustomersSeconds: sm.Took.Customers.Seconds(), Relinked: sm.Took.Relinked, Reclustered: sm.Took.Reclustered}
	if sm.Model != nil {
		model.Version = sm.Model.Version
	}
	total := man.Total()
	res := &syncBenchResult{People: o.people, Records: total, DeadLetters: man.TotalDeadLetters(), Seconds: elapsed.Seconds(),
		RecordsPerSec: float64(total) / elapsed.Seconds(), Store: r.Config.Store.Driver, Plugins: "plugin processes",
		Model: model, Value: o.value, CPUSeconds: cpu.Seconds(), PendingAtSynced: settled.pending,
		PublishedSeconds: published.Seconds(), PublishedCPUSeconds: publishedCPU.Seconds()}
	if o.serverPID != 0 {
		res.ServerPID, res.ServerCPUSeconds, res.PublishedServerCPUSeconds = o.serverPID, srvCPU.Seconds(), publishedSrv.Seconds()
		if settled.at > 0 {
			res.SettledServerCPUSeconds = settled.srv.Seconds()
		}
	}
	if settled.at > 0 {
		res.SettledSeconds, res.SettledCPUSeconds = settled.at.Seconds(), settled.cpu.Seconds()
		res.SettledPerSec = float64(total) / settled.at.Seconds()
	}
	if o.inProcess {
		res.Plugins = "in-process"
	}
	counts, err := r.Server.Store().Counts(ctx)
	if err != nil {
		return nil, err
	}
	res.Golden = counts.GoldenCustomers
	tr, err := demo.LoadTruth(dir)
	if err != nil {
		return nil, err
	}
	assign, err := assignments(ctx, r.Server.Store(), tr)
	if err != nil {
		return nil, err
	}
	res.Identity = tr.Score(assign)
	res.Deterministic = tr.Deterministic().Score(assign)
	if res.Reviews, err = tallyReviews(ctx, r.Server.Store(), tr); err != nil {
		return nil, err
	}
	if o.verbose > 0 {
		idc, err := r.Config.Identity.Resolver()
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		var settled *identity.Params
		if sm.Model != nil {
			settled = sm.Model.Params
		}
		if res.Splits, err = splitSamples(ctx, r.Server.Store(), idc, settled, tr, assign, o.verbose); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	return res, nil
}

// startCPUProfile writes a CPU profile to path until the returned func is
// called (once or more); with an empty path it does nothing. Plugin
// processes are not in it: --in-process puts the connectors in.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}

// writeAllocProfile writes the heap profile to path (nothing with an
// empty path): read with -sample_index=alloc_space, it holds what was
// allocated since the process started, which the collector's share of a
// run follows.
func writeAllocProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("memory profile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("memory profile %s: %w", path, err)
	}
	return f.Close()
}

// customerFinder is the store's search, returning summaries: the bench
// needs only the ids (a full view per truth record, its sources, orders
// and figures, took about a minute at 20,000 people on PostgreSQL).
type customerFinder interface {
	FindCustomerSummaries(ctx context.Context, f hub.CustomerFilter) ([]hub.GoldenCustomer, error)
}

// assignments finds each truth record's golden customer through the
// store's own search by source id.
func assignments(ctx context.Context, st customerFinder, tr *demo.Truth) (map[string]string, error) {
	out := make(map[string]string, len(tr.Records))
	for _, rec := range tr.Records {
		vs, err := st.FindCustomerSummaries(ctx, hub.CustomerFilter{System: rec.System, SourceID: rec.SourceID, Limit: 2})
		if err != nil {
			return nil, err
		}
		if len(vs) == 1 {
			out[rec.Key()] = vs[0].ID
		}
	}
	return out, nil
}

// promScrapeInterval is deploy/prometheus/prometheus.yml's scrape_interval.
const promScrapeInterval = 15 * time.Second

// scrapeMetrics scrapes url every interval from now (scraper), until the
// returned func is called (more than once is fine) or ctx ends.
func scrapeMetrics(ctx context.Context, url string, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done, ready := make(chan struct{}), make(chan struct{})
	close(ready) // the hub is up: Start returned
	go func() {
		defer close(done)
		(&scraper{url: url}).run(ctx, interval, ready)
	}()
	return func() { cancel(); <-done }
}
