package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/internal/app/demohub"
)

func init() { register(newDemoCmd) }

type demoFlags struct {
	dir    string
	people int
	seed   int64
	http   string
	kafka  string
}

func newDemoCmd() *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the hub on the embedded default with three simulated back-office systems",
		Long: `Generate sample data for a legacy ERP (SQLite), a finance export folder (Latin-1 CSV), a CRM
and a service desk (REST APIs served by the demo itself), then run the hub on it with the quickstart
config: embedded Kafka-protocol broker, SQLite store, connectors as plugin processes. Data and the
editable quickstart config stay in --dir; running the demo again resumes where it stopped.`,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd.Context(), f) },
	}
	cmd.Flags().StringVar(&f.dir, "dir", "crmhub-demo", "directory for the simulated systems, the hub's data and the quickstart config")
	cmd.Flags().IntVar(&f.people, "people", 300, "real customers to simulate (first run only)")
	cmd.Flags().Int64Var(&f.seed, "seed", 42, "generator seed (first run only)")
	cmd.Flags().StringVar(&f.http, "http", "127.0.0.1:8080", "API listen address")
	cmd.Flags().StringVar(&f.kafka, "kafka", "127.0.0.1:9092", "embedded broker listen address (kcat -b ...)")
	return cmd
}

func runDemo(ctx context.Context, f demoFlags) error {
	log := newLogger(config.Log{Level: "info"})
	if _, err := demo.LoadManifest(f.dir); err != nil {
		log.Info("generating sample systems", "dir", f.dir, "people", f.people)
	}
	r, err := demohub.Start(ctx, demohub.RunOptions{Dir: f.dir, Seed: f.seed, People: f.people,
		HTTPListen: f.http, KafkaListen: f.kafka, Logger: log})
	if err != nil {
		return err
	}
	defer r.Close()
	go printWhereToLook(ctx, r)
	return serve(ctx, r.Server, log)
}

// printWhereToLook waits until the store stops changing, then tells the
// user what to try.
func printWhereToLook(ctx context.Context, r *demohub.Running) {
	var last hub.Counts
	stable := 0
	for stable < 3 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		c, err := r.Server.Store().Counts(ctx)
		if err != nil {
			continue
		}
		if c == last && c.AppliedEvents > 0 {
			stable++
		} else {
			stable = 0
		}
		last = c
	}
	email := "someone@example.com"
	if len(r.Manifest.SampleEmails) > 0 {
		email = r.Manifest.SampleEmails[0]
	}
	base := "http://" + r.Server.HTTPAddr()
	fmt.Printf(`
crmhub demo is synced: %d golden customers from %d source customer records,
%d orders, %d invoices/payments, %d service cases (%d parked: customer not seen yet).

  Web console:                %s/console/
  Golden customer by e-mail:  curl '%s/v1/customers?email=%s'
  Pipeline metrics:           curl %s/metrics | grep crmhub_
  Readiness:                  curl %s/readyz
  Kafka (embedded broker):    kcat -b %s -L
  Config and mappings:        %s
  Sample systems:             %s (erp.db, finance/, crm/, servicedesk/, truth.csv)

Edit a mapping and send SIGHUP to reload it; Ctrl-C stops, running again resumes.
`, last.GoldenCustomers, last.SourceRecords, last.Orders, last.Payments, last.Cases, last.Parked,
		base, base, email, base, base, r.Server.Bus().Brokers()[0], filepath.Dir(r.ConfigPath), r.Dir)
}
