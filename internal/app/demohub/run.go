package demohub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/deploy"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/internal/app/quickstart"
	"github.com/crmhub/crmhub/internal/app/server"
)

// RunOptions start a hub on generated sample systems.
type RunOptions struct {
	Dir    string // simulated systems, the hub's data and the quickstart config
	Seed   int64
	People int
	// Regenerate forces new data; otherwise existing data in Dir is reused,
	// so a restart resumes instead of re-reading.
	Regenerate bool
	// HTTPListen and KafkaListen default to 127.0.0.1:0.
	HTTPListen, KafkaListen string
	// InProcess runs the built-in connectors in the hub process instead of
	// as plugin processes of the running binary.
	InProcess bool
	// Configure, when set, may adjust the loaded config (a store DSN).
	Configure func(*config.Config)
	Logger    *slog.Logger
}

// Running is a hub syncing generated sample systems.
type Running struct {
	Server     *server.Server
	Manifest   *demo.Manifest
	Config     *config.Config
	ConfigPath string // the quickstart config, editable, in Dir/quickstart
	APIURL     string // base URL of the simulated CRM and service desk
	Dir        string
	stopAPI    func()
}

// Start generates (or reuses) the sample systems, serves the simulated
// APIs, writes the quickstart config into Dir/quickstart once, and starts a
// hub with it.
func Start(ctx context.Context, o RunOptions) (*Running, error) {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	man, err := demo.LoadManifest(dir)
	if err != nil || o.Regenerate {
		if man, err = demo.Generate(ctx, demo.Options{Dir: dir, Seed: o.Seed, People: o.People}); err != nil {
			return nil, fmt.Errorf("generate sample systems: %w", err)
		}
	}
	cfgPath, err := quickstart.Write(filepath.Join(dir, "quickstart"))
	if err != nil {
		return nil, err
	}
	r := &Running{Manifest: man, ConfigPath: cfgPath, Dir: dir}
	if r.APIURL, r.stopAPI, err = quickstart.ServeAPIs(dir); err != nil {
		return nil, err
	}

	b, err := os.ReadFile(cfgPath)
	if err != nil {
		r.Close()
		return nil, err
	}
	env := deploy.QuickstartEnv(filepath.Join(dir, "hub"), dir, r.APIURL)
	r.Config, err = config.Parse(cfgPath, b, func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		r.Close()
		return nil, err
	}
	r.Config.HTTP.Listen = or(o.HTTPListen, "127.0.0.1:0")
	r.Config.Kafka.EmbeddedListen = or(o.KafkaListen, "127.0.0.1:0")
	r.Config.Plugins.InProcess = o.InProcess
	// The generated systems end on the generator's day: customer value
	// figures (docs/value.md) are computed as of it, not of today.
	r.Config.Value.AsOf = demo.AsOf().Format("2006-01-02")
	if o.Configure != nil {
		o.Configure(r.Config)
	}
	r.Server = server.New(server.Options{Config: r.Config, Builtins: connectors.Builtins(), Logger: o.Logger})
	if err := r.Server.Start(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Synced counts the records that reached their end: consumed by the hub
// (applied, or recognised as applied already) or dead-lettered with a reason.
// It reads those two counters alone: polled every 50 ms, gathering the
// whole registry had the store count its tables for the size gauges every
// few seconds, work a hub scraped by Prometheus does far less often.
func (r *Running) Synced() (float64, error) {
	mfs, err := r.Server.SyncCounters()
	if err != nil {
		return 0, err
	}
	var n float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "crmhub_hub_consumed_total", "crmhub_pipeline_dead_letters_total":
			for _, m := range mf.GetMetric() {
				n += counter(m)
			}
		}
	}
	return n, nil
}

func counter(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return 0
}

// WaitSynced blocks until every generated record is consumed or
// dead-lettered (on a first run; a restarted hub has nothing left to sync).
func (r *Running) WaitSynced(ctx context.Context) error {
	total := float64(r.Manifest.Total())
	for {
		n, err := r.Synced()
		if err != nil {
			return err
		}
		if n >= total {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d records synced: %w", int(n), int(total), ctx.Err())
		case err := <-r.Server.Err():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops the hub and the simulated APIs.
func (r *Running) Close() error {
	var errs []error
	if r.Server != nil {
		errs = append(errs, r.Server.Close())
	}
	if r.stopAPI != nil {
		r.stopAPI()
	}
	return errors.Join(errs...)
}
