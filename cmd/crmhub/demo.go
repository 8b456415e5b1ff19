package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/deploy"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/hub/server"
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
	dir, err := filepath.Abs(f.dir)
	if err != nil {
		return err
	}
	if _, err := demo.LoadManifest(dir); err != nil {
		fmt.Fprintf(os.Stderr, "generating sample systems in %s ...\n", dir)
		if _, err := demo.Generate(ctx, demo.Options{Dir: dir, Seed: f.seed, People: f.people}); err != nil {
			return fmt.Errorf("generate demo data: %w", err)
		}
	}
	cfgPath, err := writeQuickstart(filepath.Join(dir, "quickstart"))
	if err != nil {
		return err
	}
	apiURL, stopAPI, err := serveSimulatedAPIs(dir)
	if err != nil {
		return err
	}
	defer stopAPI()
	for k, v := range deploy.QuickstartEnv(filepath.Join(dir, "hub"), dir, apiURL) {
		os.Setenv(k, v)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	cfg.HTTP.Listen = f.http
	cfg.Kafka.EmbeddedListen = f.kafka
	log := newLogger(cfg.Log)
	return runHub(ctx, cfg, log, func(srv *server.Server) { go printWhereToLook(ctx, srv, dir, cfgPath) })
}

// writeQuickstart copies the embedded quickstart config and mappings into
// dir once; after that they are the user's to edit.
func writeQuickstart(dir string) (string, error) {
	cfgPath := filepath.Join(dir, "crmhub.yaml")
	if _, err := os.Stat(cfgPath); err == nil {
		return cfgPath, nil
	}
	qs := deploy.Quickstart()
	err := fs.WalkDir(qs, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, p)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := fs.ReadFile(qs, p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		return "", fmt.Errorf("write quickstart config: %w", err)
	}
	return cfgPath, nil
}

// serveSimulatedAPIs serves the demo CRM and service desk on a free local port.
func serveSimulatedAPIs(dir string) (string, func(), error) {
	h, err := demo.NewServer(dir)
	if err != nil {
		return "", nil, fmt.Errorf("simulated APIs: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "simulated APIs:", err)
		}
	}()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// printWhereToLook waits until the applied count stops growing, then tells
// the user what to try.
func printWhereToLook(ctx context.Context, srv *server.Server, dir, cfgPath string) {
	var last hub.Counts
	stable := 0
	for stable < 3 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		c, err := srv.Store().Counts(ctx)
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
	if man, err := demo.LoadManifest(dir); err == nil && len(man.SampleEmails) > 0 {
		email = man.SampleEmails[0]
	}
	base := "http://" + srv.HTTPAddr()
	fmt.Printf(`
crmhub demo is synced: %d golden customers from %d source customer records,
%d orders, %d invoices/payments, %d service cases (%d parked: customer not seen yet).

  Golden customer by e-mail:  curl '%s/v1/customers?email=%s'
  Pipeline metrics:           curl %s/metrics | grep crmhub_
  Readiness:                  curl %s/readyz
  Kafka (embedded broker):    kcat -b %s -L
  Config and mappings:        %s
  Sample systems:             %s (erp.db, finance/, crm/, servicedesk/, truth.csv)

Edit a mapping and send SIGHUP to reload it; Ctrl-C stops, running again resumes.
`, last.GoldenCustomers, last.SourceRecords, last.Orders, last.Payments, last.Cases, last.Parked,
		base, email, base, base, srv.Bus().Brokers()[0], filepath.Dir(cfgPath), dir)
}
