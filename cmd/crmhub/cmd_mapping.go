package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	sqlconn "github.com/crmhub/crmhub/connectors/sql"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/mapping/mappingtest"
	"github.com/crmhub/crmhub/mapping/suggest"
	"github.com/crmhub/crmhub/plugins/sdk"
)

func init() { register(newMappingCmd) }

// errMismatch makes `crmhub mapping test` exit non-zero without repeating
// the mismatches it printed.
var errMismatch = errors.New("mapping output differs from the expected file")

func newMappingCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "mapping",
		Short: "Test, lint, document and suggest field mappings",
	}
	c.AddCommand(newMappingTestCmd(), newMappingLintCmd(), newMappingDocsCmd(), newMappingSuggestCmd())
	return c
}

func newMappingTestCmd() *cobra.Command {
	var input, expect, idField string
	var update bool
	c := &cobra.Command{
		Use:   "test MAPPING --input sample.csv|.jsonl [--expect expected.jsonl] [--update]",
		Short: "Run a mapping on sample records; print each output and error; compare with or write a golden file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if input == "" {
				return errors.New("--input is required")
			}
			if update && expect == "" {
				return errors.New("--update needs --expect FILE")
			}
			m, err := mapping.LoadFile(args[0])
			if err != nil {
				return err
			}
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			rep, err := mappingtest.Run(cmd.Context(), m, input, mappingtest.Options{
				IDField: idField, Expect: expect, Update: update,
				Progress: progressBar(stderr),
			})
			if err != nil {
				return err
			}
			for _, r := range rep.Results {
				fmt.Fprintf(stdout, "%s\n", r)
			}
			fmt.Fprintf(stderr, "%s v%d: %d records: %d mapped, %d skipped, %d deleted, %d failed\n",
				m.Name(), m.Version(), len(rep.Results), rep.Mapped, rep.Skipped, rep.Deleted, rep.Failed)
			if len(rep.Dropped) > 0 {
				// The values the pipeline would count in
				// crmhub_mapping_values_dropped_total, per field and reason.
				keys := make([]string, 0, len(rep.Dropped))
				for k := range rep.Dropped {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					fmt.Fprintf(stderr, "dropped: %d × %s\n", rep.Dropped[k], k)
				}
			}
			if len(rep.Unread) > 0 {
				fmt.Fprintf(stderr, "warning: the mapping reads fields no input record has: %s (a typo, or a text literal without quotes?)\n", strings.Join(rep.Unread, ", "))
			}
			if update {
				fmt.Fprintf(stderr, "wrote %s\n", expect)
				return nil
			}
			for _, mm := range rep.Mismatches {
				fmt.Fprintf(stderr, "MISMATCH record %d (%s)\n  want: %s\n   got: %s\n", mm.Line, mm.SourceID, mm.Want, mm.Got)
			}
			if len(rep.Mismatches) > 0 {
				return fmt.Errorf("%w: %d of %d records", errMismatch, len(rep.Mismatches), len(rep.Results))
			}
			if expect != "" {
				fmt.Fprintf(stderr, "ok: matches %s\n", expect)
			}
			return nil
		},
	}
	c.Flags().StringVar(&input, "input", "", "sample records: .csv (header row) or .jsonl")
	c.Flags().StringVar(&expect, "expect", "", "expected results (JSONL) to compare with")
	c.Flags().BoolVar(&update, "update", false, "write the expected file from this run")
	c.Flags().StringVar(&idField, "id", "", "source field holding the record id (default id, else <entity>_id, else the line number)")
	return c
}

// progressBar draws on stderr for inputs large enough to wait for.
func progressBar(w io.Writer) func(done, total int) {
	return func(done, total int) {
		if total < 2000 {
			return
		}
		const width = 30
		n := done * width / total
		fmt.Fprintf(w, "\r[%s%s] %d/%d", strings.Repeat("=", n), strings.Repeat(" ", width-n), done, total)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}

func newMappingLintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lint [DIR]",
		Short: "Load and check every mapping of a directory; report every problem at once",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			all, err := mapping.Lint(dir)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return fmt.Errorf("lint %s: problems found", dir)
			}
			for _, m := range all {
				sys, ent := m.Source()
				target, ver := m.Target()
				from, to := sys+"/"+ent, target+"."+ver
				if m.Reverse() { // canonical entity into a system's own entity (write-back)
					from, to = ent, m.TargetSystem()+"/"+target
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ok  %-28s v%-3d %s -> %s (%s)\n", m.Name(), m.Version(), from, to, filepath.Base(m.File()))
			}
			return nil
		},
	}
}

func newMappingDocsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "docs",
		Short: "Print the reference of every mapping function (Markdown), generated from the function registry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return mapping.WriteDocs(cmd.OutOrStdout())
		},
	}
}

func newMappingSuggestCmd() *cobra.Command {
	var input, target, system, entity, out string
	var live liveSample
	c := &cobra.Command{
		Use:   "suggest (--input sample.csv|.jsonl | --table T (--driver D --dsn DSN | --source NAME [-c crmhub.yaml])) --target customer",
		Short: "Propose a first mapping from column names and sample values, with a confidence per field",
		Long: `Reads sample records from a file (--input) or from a live database table through the sql
connector's own reader (--table with --driver/--dsn, or with --source naming an sql source of
the config), the same records crmhub connectors inspect shows and the mapping will receive,
and proposes a mapping. A fax column is never proposed as a phone, and a phone number's
region is only ever one its values were read in (the row's country column, or the region in
which most values are valid), never a fallback guessed for values that did not parse.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (input == "") == (live.table == "") {
				return errors.New("one of --input or --table is required")
			}
			var (
				payloads [][]byte
				ids      []string
				from     = filepath.Base(input)
			)
			if live.table != "" {
				recs, err := live.read(cmd.Context())
				if err != nil {
					return err
				}
				for _, r := range recs {
					if r.Op == sdk.OpUpsert {
						payloads, ids = append(payloads, r.Payload), append(ids, r.ID)
					}
				}
				from = "table " + live.table
				if entity == "" {
					entity = live.table
				}
			} else {
				if entity == "" {
					entity = strings.TrimSuffix(filepath.Base(input), filepath.Ext(input))
				}
				ins, err := mapping.ReadInputs(input, system, entity, "")
				if err != nil {
					return err
				}
				for _, in := range ins {
					payloads, ids = append(payloads, in.Payload), append(ids, in.SourceID)
				}
			}
			recs := make([]map[string]any, 0, len(payloads))
			for i, p := range payloads {
				r, err := mapping.DecodeSample(p)
				if err != nil {
					return fmt.Errorf("%s record %s: %w", from, ids[i], err)
				}
				recs = append(recs, r)
			}
			y, _, err := suggest.Mapping(recs, suggest.Options{Target: target, System: system, Entity: entity, Input: from})
			if err != nil {
				return err
			}
			if out == "" {
				_, err = cmd.OutOrStdout().Write(y)
				return err
			}
			if err := os.WriteFile(out, y, 0o644); err != nil {
				return fmt.Errorf("write suggestion: %w", err)
			}
			if input != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s; edit it, then: crmhub mapping test %s --input %s\n", out, out, input)
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s; edit it, then try it on records of the source\n", out)
			}
			return nil
		},
	}
	c.Flags().StringVar(&input, "input", "", "sample records: .csv (header row) or .jsonl")
	c.Flags().StringVar(&target, "target", "customer", "canonical entity: customer, order, payment, service_case")
	c.Flags().StringVar(&system, "system", "SYSTEM", "source system name")
	c.Flags().StringVar(&entity, "entity", "", "source entity name (default: the input file or table name)")
	c.Flags().StringVarP(&out, "output", "o", "", "write the YAML here instead of stdout")
	c.Flags().StringVar(&live.table, "table", "", "read the sample from this table of a live database")
	c.Flags().StringVar(&live.driver, "driver", "", "with --table: postgres, mysql or sqlite")
	c.Flags().StringVar(&live.dsn, "dsn", "", "with --table: data source name in the driver's syntax")
	c.Flags().StringVar(&live.source, "source", "", "with --table: an sql source of the config whose database to read")
	c.Flags().StringVarP(&live.config, "config", "c", "crmhub.yaml", "config file (with --source)")
	c.Flags().IntVar(&live.samples, "samples", 200, "with --table: how many rows to read")
	return c
}

// liveSample is where `mapping suggest` reads a live table.
type liveSample struct {
	table, driver, dsn, source, config string
	samples                            int
}

func (l liveSample) read(ctx context.Context) ([]sdk.Record, error) {
	if l.source != "" {
		var err error
		if l.driver, l.dsn, err = sqlSourceDB(l.config, l.source); err != nil {
			return nil, err
		}
	}
	if l.driver == "" || l.dsn == "" {
		return nil, errors.New("--table needs --driver and --dsn (or --source)")
	}
	if l.samples <= 0 {
		return nil, errors.New("--samples must be positive")
	}
	return sqlconn.SampleTable(ctx, l.driver, l.dsn, l.table, l.samples)
}

// sqlSourceDB returns the driver and DSN of the sql source name of the
// config at path, its ${VAR}s resolved, so no password is typed on the
// command line.
func sqlSourceDB(path, name string) (driver, dsn string, err error) {
	cfg, err := config.Load(path)
	if err != nil {
		return "", "", err
	}
	i := slices.IndexFunc(cfg.Connectors, func(c config.Connector) bool { return c.Name == name })
	if i < 0 || cfg.Connectors[i].Plugin != "sql" {
		return "", "", fmt.Errorf("%s: no sql source named %q", cfg.File, name)
	}
	driver, _ = cfg.Connectors[i].Settings["driver"].(string)
	dsn, _ = cfg.Connectors[i].Settings["dsn"].(string)
	return driver, dsn, nil
}
