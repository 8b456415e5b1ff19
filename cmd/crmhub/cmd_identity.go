package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/store"
)

func init() { register(newIdentityCmd) }

func newIdentityCmd() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "identity",
		Short: "Estimate and show the model that decides which person records are one customer",
		Long: `Persons are matched by a Fellegi-Sunter model: per comparison (given name, family name,
birth date, address, identifier, e-mail, phone, gender) and level (exact, a typo apart, ...),
m is how often two records of one person are at that level and u how often two random
people are. With identity.fuzzy.people.estimate: auto (the default) the hub estimates u, the
prior, name frequencies and the twin share from its store's records itself (m stays the
configured model's), once it holds estimate_min_records person records and again when idle
after they changed, and keeps each version in the store. "params" prints the model a config's
hub uses (the defaults until one is estimated); "train" estimates one into a file, for a hub
on estimate: off or to pin a model (identity.fuzzy.people.params).`,
	}
	c.PersistentFlags().StringVarP(&path, "config", "c", "crmhub.yaml", "config file")
	c.AddCommand(newIdentityTrainCmd(&path), newIdentityParamsCmd(&path))
	return c
}

func newIdentityTrainCmd(path *string) *cobra.Command {
	var out string
	var sample int
	var seed uint64
	c := &cobra.Command{
		Use:   "train --out people.json",
		Short: "Estimate the person model from the store's customer records (no labels needed)",
		Long: `Reads the live customer records of the config's store (up to --sample, in key order),
estimates as the hub does (estimate: auto) u from random pairs (at least 50 per record),
name frequencies, the twin share and the prior by expectation-maximisation over the pairs
the blocking rules bring together, m staying the configured model's, and writes the model to
--out. Point identity.fuzzy.people.params at the file and restart the hub: seeing another
model than the store's links were scored with, it scores them all again and re-clusters
every customer before it applies anything (logged as "identity rescore"), so golden
customers are what the records and the model give, whenever the model changed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			cfg, idc, err := loadIdentity(*path)
			if err != nil {
				return err
			}
			if idc.Fuzzy == nil {
				idc.Fuzzy = identity.DefaultFuzzy()
			}
			st, err := store.Open(cmd.Context(), cfg.Store.Driver, cfg.Store.DSN, store.Options{Identity: idc})
			if err != nil {
				return fmt.Errorf("open store: %w", err)
			}
			defer st.Close()
			recs, err := st.CustomerRecords(cmd.Context(), sample)
			if err != nil {
				return err
			}
			// m stays the configured model's, as in the hub's own
			// estimate (identity.AutoEstimate says why).
			p, stats, err := identity.New(idc).Estimate(recs, idc.Fuzzy.People, identity.EstimateOptions{Seed: seed,
				FixedM: true, PairsPerRecord: identity.AutoPairsPerRecord})
			if err != nil {
				return fmt.Errorf("estimate from %d records: %w", len(recs), err)
			}
			if err := identity.SaveParams(out, p); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s\nwritten to %s (version %d); set identity.fuzzy.people.params: %s\n",
				p.Source, out, p.Version, out)
			_ = stats
			printParams(cmd.OutOrStdout(), p)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "", "file to write the model to (JSON)")
	c.Flags().IntVar(&sample, "sample", 200000, "at most this many customer records (0: all)")
	c.Flags().Uint64Var(&seed, "seed", 1, "seed of the random pairs (the same records and seed give the same model)")
	return c
}

func newIdentityParamsCmd(path *string) *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "params [--file people.json]",
		Short: "Print the person model: m, u and the match weight of every comparison level",
		Long: `Prints the person model the config's hub uses: the file --file or identity.fuzzy.people.params
names; else, with identity.fuzzy.people.estimate: auto (the default), the newest model the hub
estimated from its store's records (its version, when, on how many person records); else the
defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := identity.DefaultParams()
			switch {
			case file != "":
				var err error
				if p, err = identity.LoadParams(file); err != nil {
					return err
				}
			default:
				if _, err := os.Stat(*path); err != nil {
					break
				}
				cfg, idc, err := loadIdentity(*path)
				if err != nil {
					return err
				}
				if idc.Fuzzy != nil {
					p = idc.Fuzzy.People
				}
				if people := cfg.Identity.Fuzzy.People; cfg.Identity.Fuzzy.Enabled && people.AutoEstimate() {
					m, err := storeModel(cmd.Context(), cfg, idc)
					if err != nil {
						return err
					}
					if m == nil {
						fmt.Fprintf(cmd.OutOrStdout(), "the store holds no estimated model yet: the hub estimates one once it holds %d person records and is idle\n\n",
							people.EstimateMinRecords)
						break
					}
					fmt.Fprintf(cmd.OutOrStdout(), "store model version %d, estimated %s (%s) on %d person records, record set %s, fingerprint %s\n",
						m.Version, m.CreatedAt.Format(time.RFC3339), m.Origin, m.Records, m.Digest, m.Fingerprint)
					// The thresholds are the config's, as the hub uses them.
					m.Params.AutoMerge, m.Params.Review = p.AutoMerge, p.Review
					p = m.Params
				}
			}
			printParams(cmd.OutOrStdout(), p)
			return nil
		},
	}
	c.Flags().StringVar(&file, "file", "", "a model file written by train (default: the one the config names, else the store's, else the defaults)")
	return c
}

// storeModel reads the newest model the hub stored in the config's store.
func storeModel(ctx context.Context, cfg *config.Config, idc identity.Config) (*store.Model, error) {
	st, err := store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN, store.Options{Identity: idc})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	return st.LatestModel(ctx)
}

func printParams(w io.Writer, p *identity.Params) {
	fmt.Fprintf(w, "model version %d: %s\nprior %.3g, auto-merge at probability %.3f, review from %.3f\n\n",
		p.Version, p.Source, p.Prior, p.AutoMerge, p.Review)
	if p.TwinShare != nil {
		fmt.Fprintf(w, "twin share %.2g%s: pairs that differ only in the given name are held for review unless 1 - twin share (at their given names' level, where given) reaches auto-merge\n\n", *p.TwinShare, twinSharesText(p))
	} else {
		fmt.Fprintf(w, "twin share not estimated: pairs that differ only in the given name are held for review\n\n")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "comparison\tlevel\tm\tu\tweight (bits)")
	for _, c := range identity.Comparisons {
		levels := make([]string, 0, len(p.Levels[c]))
		for l := range p.Levels[c] {
			levels = append(levels, l)
		}
		sort.Slice(levels, func(i, j int) bool { return p.Levels[c][levels[i]].Weight() > p.Levels[c][levels[j]].Weight() })
		for _, l := range levels {
			mu := p.Levels[c][l]
			fmt.Fprintf(tw, "%s\t%s\t%.4f\t%.6f\t%+.2f\n", c, l, mu.M, mu.U, mu.Weight())
		}
	}
	tw.Flush()
	for _, c := range []string{identity.CompGiven, identity.CompFamily} {
		if n := len(p.TF[c]); n > 0 {
			fmt.Fprintf(w, "term frequencies: %d %s values\n", n, c)
		}
	}
}

// loadIdentity reads the config and the resolver configuration it gives.
func loadIdentity(path string) (*config.Config, identity.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, identity.Config{}, err
	}
	idc, err := cfg.Identity.Resolver()
	return cfg, idc, err
}
