package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/spf13/cobra"

	sqlconn "github.com/crmhub/crmhub/connectors/sql"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/store"
)

// newConnectorsResnapshotCmd clears a source's saved position (or one
// entity's part of it) so the next start reads it from the beginning. The
// hub applies a record it holds already as a no-op, so nothing doubles.
func newConnectorsResnapshotCmd() *cobra.Command {
	var path string
	var force bool
	c := &cobra.Command{
		Use:   "resnapshot NAME [ENTITY]",
		Short: "Re-read a source (or one entity of an sql source) from the start at the hub's next start",
		Long: `Clears the saved position of connector instance NAME in the config's store; with ENTITY
(sql sources), only that entity's. The hub must be stopped (a running hub saves its own
position over this one; the command refuses while the config's HTTP address answers,
unless --force). At the next start the source reads everything again; records the hub
holds already are applied as no-ops (idempotent apply), so nothing is duplicated.
A change_detection logical source takes a new snapshot with a new replication slot.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, entity := args[0], ""
			if len(args) == 2 {
				entity = args[1]
			}
			cfg, idc, err := loadIdentity(path)
			if err != nil {
				return err
			}
			var inst *config.Connector
			var names []string
			for i := range cfg.Connectors {
				names = append(names, cfg.Connectors[i].Name)
				if cfg.Connectors[i].Name == name {
					inst = &cfg.Connectors[i]
				}
			}
			if inst == nil {
				return fmt.Errorf("%s: no connector named %q (have: %v)", cfg.File, name, names)
			}
			if entity != "" && inst.Plugin != "sql" {
				return fmt.Errorf("%s:%d: connector %s (plugin %s): only sql sources can re-read one entity; leave out %q to re-read the whole source", cfg.File, inst.Line, name, inst.Plugin, entity)
			}
			if !force && hubRunning(ctx, cfg.HTTP.Listen) {
				return fmt.Errorf("a hub answers on %s: stop it first (it would save its own position over the cleared one), or pass --force", cfg.HTTP.Listen)
			}
			st, err := store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN, store.Options{Identity: idc})
			if err != nil {
				return fmt.Errorf("open store: %w", err)
			}
			defer st.Close()
			pos, err := st.Position(ctx, name)
			if err != nil {
				return err
			}
			next, found := []byte(nil), len(pos) > 0
			if entity != "" {
				if ents, ok := inst.Settings["entities"].([]any); ok && !slices.ContainsFunc(ents, func(e any) bool {
					m, _ := e.(map[string]any)
					return m["name"] == entity
				}) {
					return fmt.Errorf("%s:%d: connector %s has no entity %q", cfg.File, inst.Line, name, entity)
				}
				if next, found, err = sqlconn.ResnapshotPosition(pos, entity); err != nil {
					if errors.Is(err, sqlconn.ErrWholeSource) {
						return fmt.Errorf("connector %s: %w", name, err)
					}
					return fmt.Errorf("connector %s: saved position: %w", name, err)
				}
			}
			w := cmd.OutOrStdout()
			what := "source " + name
			if entity != "" {
				what = "entity " + entity + " of source " + name
			}
			if !found {
				fmt.Fprintf(w, "%s has no saved position: it is read from the start already\n", what)
				return nil
			}
			if err := st.SavePosition(ctx, name, next); err != nil {
				return err
			}
			fmt.Fprintf(w, "%s: position cleared; the hub reads it again from the start at its next start (records it holds already apply as no-ops)\n", what)
			return nil
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "crmhub.yaml", "config file")
	c.Flags().BoolVar(&force, "force", false, "clear the position even though a hub answers on the config's HTTP address")
	return c
}

// hubRunning reports whether something accepts connections on the hub's
// HTTP address.
func hubRunning(ctx context.Context, addr string) bool {
	if addr == "" {
		return false
	}
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
