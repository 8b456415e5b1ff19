package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/internal/app/server"
)

func init() { register(newRunCmd) }

func newRunCmd() *cobra.Command {
	var path, role string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the hub with a config file",
		Long: `Run the hub: connectors pull from the configured systems, mappings turn their records into
canonical records on Kafka, and the hub resolves them into golden customers served over HTTP.
SIGHUP reloads the mappings (a broken new version is refused, the running one kept).

--role splits the work between instances sharing one broker and store: connectors (source runners,
reconciliation, write-back), apply (the applier, the golden change stream, the dead-letter indexer),
api (the HTTP API); every instance serves /healthz, /readyz and /metrics. Default: all.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path) // checked whole before anything starts
			if err != nil {
				return configError(err)
			}
			if cmd.Flags().Changed("role") {
				if cfg.Roles, err = config.ParseRoles(role); err != nil {
					return err
				}
			}
			return runHub(cmd.Context(), cfg, newLogger(cfg.Log))
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "crmhub.yaml", "config file")
	cmd.Flags().StringVar(&role, "role", "all", "roles of this instance, comma-separated: connectors, apply, api, all (overrides roles: in the config)")
	return cmd
}

// runHub starts a server and serves until SIGINT/SIGTERM.
func runHub(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	srv := server.New(server.Options{Config: cfg, Builtins: connectors.Builtins(), Logger: log, OwnProcess: true})
	if err := srv.Start(ctx); err != nil {
		return err
	}
	return serve(ctx, srv, log)
}

// serve runs a started server until SIGINT/SIGTERM or a fatal error, then
// closes it; SIGHUP reloads the mappings.
func serve(ctx context.Context, srv *server.Server, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer srv.ReloadOnHangup()()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-srv.Err():
			runErr = err
			break loop
		}
	}
	log.Info("shutting down")
	if err := srv.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("shutdown: %w", err)
	}
	return runErr
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
