package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/deploy"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/hub/server"
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
identity resolution against the generator's ground truth.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := runSyncBench(cmd.Context(), o)
			if err != nil {
				return err
			}
			return r.print(cmd.OutOrStdout(), o.json)
		},
	}
	sync.Flags().IntVar(&o.people, "people", 2000, "real customers to generate")
	sync.Flags().Int64Var(&o.seed, "seed", 1, "generator seed")
	sync.Flags().StringVar(&o.dir, "dir", "", "work directory (default: a temporary one, removed after)")
	sync.Flags().BoolVar(&o.inProcess, "in-process", false, "run built-in connectors in the hub process instead of plugin processes")
	sync.Flags().StringVar(&o.store, "store", "sqlite", "sqlite or postgres")
	sync.Flags().StringVar(&o.dsn, "dsn", "", "store DSN (postgres)")
	sync.Flags().BoolVar(&o.json, "json", false, "print the result as JSON")
	sync.Flags().DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	cmd.AddCommand(sync)
	return cmd
}

type syncBenchOpts struct {
	people     int
	seed       int64
	dir, store string
	dsn        string
	inProcess  bool
	json       bool
	timeout    time.Duration
}

type syncBenchResult struct {
	People        int        `json:"people"`
	Records       int        `json:"source_records"`
	DeadLetters   int        `json:"dead_letters"`
	Seconds       float64    `json:"seconds"`
	RecordsPerSec float64    `json:"records_per_second"`
	Golden        int64      `json:"golden_customers"`
	Identity      demo.Score `json:"identity"`
	Deterministic demo.Score `json:"identity_deterministic"`
	Store         string     `json:"store"`
	Plugins       string     `json:"plugins"`
}

func (r syncBenchResult) print(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "people %d, source records %d (%d dead-lettered on purpose), store %s, connectors %s\n",
		r.People, r.Records, r.DeadLetters, r.Store, r.Plugins)
	fmt.Fprintf(w, "sync: %.1f s, %.0f records/s from source to golden store, %d golden customers\n", r.Seconds, r.RecordsPerSec, r.Golden)
	fmt.Fprintf(w, "identity (all):           precision %.4f  recall %.4f  F1 %.4f  false merges %d  splits %d  tax-id conflicts %d\n",
		r.Identity.Precision, r.Identity.Recall, r.Identity.F1, r.Identity.FalseMerges, r.Identity.Splits, r.Identity.TaxIDConflicts)
	fmt.Fprintf(w, "identity (deterministic): precision %.4f  recall %.4f  F1 %.4f\n",
		r.Deterministic.Precision, r.Deterministic.Recall, r.Deterministic.F1)
	return nil
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
	man, err := demo.Generate(ctx, demo.Options{Dir: dir, Seed: o.seed, People: o.people})
	if err != nil {
		return nil, err
	}
	cfgPath, err := writeQuickstart(filepath.Join(dir, "quickstart"))
	if err != nil {
		return nil, err
	}
	apiURL, stopAPI, err := serveSimulatedAPIs(dir)
	if err != nil {
		return nil, err
	}
	defer stopAPI()
	env := deploy.QuickstartEnv(filepath.Join(dir, "hub"), dir, apiURL)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(cfgPath, b, func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		return nil, err
	}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Kafka.EmbeddedListen = "127.0.0.1:0"
	cfg.Plugins.InProcess = o.inProcess
	if o.store == "postgres" {
		cfg.Store.Driver, cfg.Store.DSN = "postgres", o.dsn
	}
	total, dead := man.Total(), man.TotalDeadLetters()
	srv := server.New(server.Options{Config: cfg, Builtins: connectors.Builtins(), Logger: newLogger(config.Log{Level: "warn"})})
	start := time.Now()
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	defer srv.Close()
	for {
		got, err := syncedRecords(srv)
		if err != nil {
			return nil, err
		}
		if got >= float64(total) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: %d of %d records synced before %s: %w", int(got), total, o.timeout, ctx.Err())
		case err := <-srv.Err():
			return nil, err
		case <-time.After(50 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	res := &syncBenchResult{People: o.people, Records: total, DeadLetters: dead, Seconds: elapsed.Seconds(),
		RecordsPerSec: float64(total) / elapsed.Seconds(), Store: cfg.Store.Driver, Plugins: "plugin processes"}
	if o.inProcess {
		res.Plugins = "in-process"
	}
	counts, err := srv.Store().Counts(ctx)
	if err != nil {
		return nil, err
	}
	res.Golden = counts.GoldenCustomers
	tr, err := demo.LoadTruth(dir)
	if err != nil {
		return nil, err
	}
	assign, err := assignments(ctx, srv, tr)
	if err != nil {
		return nil, err
	}
	res.Identity = tr.Score(assign)
	res.Deterministic = tr.Deterministic().Score(assign)
	return res, nil
}

// syncedRecords counts records that reached their end: applied by the hub
// (or recognised as already applied) or dead-lettered with a reason.
func syncedRecords(srv *server.Server) (float64, error) {
	// A collector that cannot answer in time (the store's gauges during a
	// long write) fails Gather but still returns the other families.
	mfs, err := srv.Registry().Gather()
	if err != nil && len(mfs) == 0 {
		return 0, err
	}
	var n float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "crmhub_hub_consumed_total", "crmhub_pipeline_dead_letters_total":
			for _, m := range mf.GetMetric() {
				n += counterValue(m)
			}
		}
	}
	return n, nil
}

func counterValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return 0
}

// assignments finds each truth record's golden customer through the
// store's own search by source id.
func assignments(ctx context.Context, srv *server.Server, tr *demo.Truth) (map[string]string, error) {
	out := make(map[string]string, len(tr.Records))
	for _, r := range tr.Records {
		vs, err := srv.Store().FindCustomers(ctx, hub.CustomerFilter{System: r.System, SourceID: r.SourceID, Limit: 2})
		if err != nil {
			return nil, err
		}
		if len(vs) == 1 {
			out[r.Key()] = vs[0].ID
		}
	}
	return out, nil
}
