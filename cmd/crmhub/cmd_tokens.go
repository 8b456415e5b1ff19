package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/hub/auth"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/store"
)

func init() { register(newTokensCmd) }

func newTokensCmd() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "tokens",
		Short: "Create, list and revoke API tokens",
		Long: `API tokens let departments and systems call the hub's API with the scopes they need:
sales (customers, orders, cases), finance (customers, payments, open balance), service (customers
without credit limit, cases), steward (read, explain, review, merge, unmerge, dead letters), admin.
Tokens live in the hub's store database (store.driver and store.dsn of the config), so every hub
instance sees a new or revoked token at once. Only a SHA-256 hash is stored: the token is printed
once, by create.`,
	}
	c.PersistentFlags().StringVarP(&path, "config", "c", "crmhub.yaml", "config file (its store holds the tokens)")
	open := func(ctx context.Context) (*auth.Store, error) {
		cfg, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		if cfg.Store.Driver == "sqlite" {
			// Tokens may be created before the hub first ran.
			if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
				return nil, fmt.Errorf("data dir: %w", err)
			}
		}
		// The store's migrations create the tokens table: a token may be
		// created before the hub first ran.
		st, err := store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN, store.Options{RecordCache: -1})
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", cfg.Store.Driver, err)
		}
		if err := st.Close(); err != nil {
			return nil, fmt.Errorf("close store: %w", err)
		}
		return auth.Open(ctx, cfg.Store.Driver, cfg.Store.DSN, auth.Options{})
	}
	c.AddCommand(newTokensCreateCmd(open), newTokensListCmd(open), newTokensRevokeCmd(open))
	return c
}

type openTokens func(ctx context.Context) (*auth.Store, error)

func newTokensCreateCmd(open openTokens) *cobra.Command {
	var name, scopes string
	c := &cobra.Command{
		Use:   "create --name NAME --scope SCOPE[,SCOPE...]",
		Short: "Create a token and print it once (stdout); nothing can show it again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return errors.New("--name is required (it is also the actor of steward actions)")
			}
			sc, err := auth.ParseScopes(scopes)
			if err != nil {
				return fmt.Errorf("--scope: %w", err)
			}
			s, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			secret, tok, err := s.Create(cmd.Context(), name, sc)
			if err != nil {
				return err
			}
			// The secret alone on stdout, so `TOKEN=$(crmhub tokens create ...)` works.
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			fmt.Fprintf(cmd.ErrOrStderr(), "created token %s (id %s, scopes %s); it is shown only now: store it in your secret manager\n",
				tok.Name, tok.ID, scopeList(tok.Scopes))
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "who uses the token: a system or a person (letters, digits, . _ @ -)")
	c.Flags().StringVar(&scopes, "scope", "", "comma-separated: sales, finance, service, steward, admin")
	return c
}

func newTokensListCmd(open openTokens) *cobra.Command {
	var all, asJSON bool
	c := &cobra.Command{
		Use:   "list [--all] [--json]",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			toks, err := s.List(cmd.Context(), all)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if toks == nil {
					toks = []auth.Token{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(toks)
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tREVOKED")
			for _, t := range toks {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, scopeList(t.Scopes), when(t.CreatedAt), when(t.LastUsed), when(t.RevokedAt))
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&all, "all", false, "include revoked tokens")
	c.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	return c
}

func newTokensRevokeCmd(open openTokens) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID|NAME",
		Short: "Revoke a live token; every hub instance refuses it from the next request on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			tok, err := s.Revoke(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s (id %s)\n", tok.Name, tok.ID)
			return nil
		},
	}
}

func scopeList(ss []auth.Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}
