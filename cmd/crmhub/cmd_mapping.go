package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/mapping"
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
			rep, err := mapping.RunTest(cmd.Context(), m, input, mapping.TestOptions{
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
	c := &cobra.Command{
		Use:   "suggest --input sample.csv|.jsonl --target customer",
		Short: "Propose a first mapping from column names and sample values, with a confidence per field",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input == "" {
				return errors.New("--input is required")
			}
			if entity == "" {
				entity = strings.TrimSuffix(filepath.Base(input), filepath.Ext(input))
			}
			ins, err := mapping.ReadInputs(input, system, entity, "")
			if err != nil {
				return err
			}
			recs := make([]map[string]any, 0, len(ins))
			for _, in := range ins {
				var r map[string]any
				if err := json.Unmarshal(in.Payload, &r); err != nil {
					return fmt.Errorf("input %s record %s: %w", input, in.SourceID, err)
				}
				recs = append(recs, r)
			}
			y, _, err := mapping.Suggest(recs, mapping.SuggestOptions{Target: target, System: system, Entity: entity, Input: filepath.Base(input)})
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
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s; edit it, then: crmhub mapping test %s --input %s\n", out, out, input)
			return nil
		},
	}
	c.Flags().StringVar(&input, "input", "", "sample records: .csv (header row) or .jsonl")
	c.Flags().StringVar(&target, "target", "customer", "canonical entity: customer, order, payment, service_case")
	c.Flags().StringVar(&system, "system", "SYSTEM", "source system name")
	c.Flags().StringVar(&entity, "entity", "", "source entity name (default: the input file name)")
	c.Flags().StringVarP(&out, "output", "o", "", "write the YAML here instead of stdout")
	return c
}
