package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/quality"
	"github.com/crmhub/crmhub/internal/textenc"
)

// newBenchQualityCmd scores the identity resolver on hub/quality's
// generator, which is independent of the matcher's rules.
func newBenchQualityCmd() *cobra.Command {
	var people int
	var seed int64
	var variant, method string
	var estimate bool
	var modelMode string
	var households, twoErrors, twins float64
	var fb febrlFlags
	var pf personFlags
	cmd := &cobra.Command{
		Use:   "quality",
		Short: "Score identity resolution on an independent generator (precision, recall, F1, recall per corruption)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if estimate {
				modelMode = modelEstimated
			}
			if pf.set() || fb.set() {
				fb.model, fb.method, fb.seed = modelMode, method, seed
			}
			if pf.set() {
				if fb.dir != "" {
					return fmt.Errorf("bench quality: --truth reads --input-a/--input-b, not --febrl")
				}
				return runPersons(cmd.OutOrStdout(), fb, pf)
			}
			if fb.set() {
				return runFEBRL(cmd.OutOrStdout(), fb)
			}
			variants := []struct {
				name                    string
				contact, withIDs, firms bool
			}{{"contact+ids", true, true, false}, {"contact", true, false, false}, {"ids", false, true, false},
				{"names", false, false, false}, {"firms", false, false, true}}
			out := cmd.OutOrStdout()
			found := false
			for _, v := range variants {
				if variant != "" && variant != v.name {
					continue
				}
				found = true
				cfg := identity.Config{DefaultRegion: "DE", Fuzzy: &identity.FuzzyConfig{Method: method}}
				recs := quality.GenerateWith(people, seed, quality.Options{Contact: v.contact, IDs: v.withIDs,
					Households: households, TwoErrors: twoErrors, Twins: twins})
				model := method
				kinds := quality.Kinds
				if v.firms {
					// Companies, with sister companies at one address
					// as often as --households puts relatives together.
					recs, model, kinds = quality.GenerateFirms(people, seed, households), "organizations: name and address weights", quality.FirmCorruptions
				}
				if method != identity.MethodWeighted && !v.firms {
					// Without the ground truth: the model is estimated
					// from the records alone, as the hub does.
					p, desc, err := qualityModel(cfg, quality.Records(recs), modelMode)
					if err != nil {
						return fmt.Errorf("bench quality: %w", err)
					}
					cfg.Fuzzy.People, model = p, desc
				}
				res := quality.Run(cfg, recs)
				fmt.Fprintf(out, "%-12s precision %.4f recall %.4f F1 %.4f (true pairs %d) model %s\n",
					v.name, res.Score.Precision, res.Score.Recall, res.Score.F1, res.Score.TruePairs, model)
				printReview(out, res.Review)
				for _, k := range kinds {
					if res.KindCount[k] == 0 {
						continue
					}
					fmt.Fprintf(out, "  %-15s recall %.2f (n=%d)\n", k, res.KindRecall[k], res.KindCount[k])
				}
				if fb.sample > 0 {
					printMistakes(out, identity.New(cfg), recs, quality.Sample(recs, res.Assign, fb.sample))
				}
			}
			if !found {
				return fmt.Errorf("bench quality: unknown variant %q (contact+ids, contact, ids, names, firms)", variant)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&people, "people", 1000, "generated people")
	cmd.Flags().Int64Var(&seed, "seed", 1, "generator seed")
	cmd.Flags().StringVar(&variant, "variant", "", "one variant only: contact+ids, contact, ids, names, firms")
	cmd.Flags().StringVar(&method, "method", identity.MethodFellegiSunter, "how persons are scored: fellegi_sunter or weighted (hand weights)")
	cmd.Flags().Float64Var(&households, "households", 0, "share of people living with a relative (same family name and address, another given name and birth date)")
	cmd.Flags().Float64Var(&twins, "twins", 0, "share of those relatives born the same day (twins: only the given name differs)")
	cmd.Flags().Float64Var(&twoErrors, "two-errors", 0, "share of copies with a second corruption of another kind")
	cmd.Flags().StringVar(&modelMode, "model", modelAuto, "the person model: auto (what the default config gives: estimated from the records, no labels, once they hold estimate_min_records (250) persons, else the defaults), estimated (whatever their number) or defaults (estimate: off)")
	cmd.Flags().BoolVar(&estimate, "estimate", false, "the same as --model estimated")
	cmd.Flags().StringVar(&fb.dir, "febrl", "", "score on FEBRL files in this folder instead (dataset4a.csv+dataset4b.csv as two systems, dataset1-3.csv each as one system)")
	cmd.Flags().StringVar(&fb.inputA, "input-a", "", "score on this delimited person file (one system, or the first of two with --input-b); in FEBRL's CSV layout unless --truth is given")
	cmd.Flags().StringVar(&fb.inputB, "input-b", "", "the second system's file")
	cmd.Flags().BoolVar(&fb.withoutID, "without-id", false, "drop the person identifiers (FEBRL's social security number): names, address and birth date only")
	cmd.Flags().StringVar(&pf.truth, "truth", "", "the column whose equal values are one person: reads --input-a/--input-b as any delimited file, mapped by --mapping, --columns or a suggested mapping")
	cmd.Flags().StringVar(&pf.id, "id", "", "the column holding each row's id (default: the row's line number)")
	cmd.Flags().StringVar(&pf.delimiter, "delimiter", "", "the field delimiter (one character or tab; default: sniffed from the header: , ; tab |)")
	cmd.Flags().StringVar(&pf.mappingFile, "mapping", "", "a mapping YAML (crmhub's mapping language, target customer) that maps a row onto the canonical person")
	cmd.Flags().StringVar(&pf.columns, "columns", "", "a column map instead of --mapping: given_name=first_name,family_name=last_name,birth_date=dob,street=...,postal_code=...,city=...,email=...,phone=...,identifier:ssn=...")
	cmd.Flags().StringSliceVar(&pf.drop, "drop", nil, "canonical attributes removed after mapping: email, phone, birth_date, gender, identifiers, address, given_name, family_name")
	cmd.Flags().StringVar(&pf.encoding, "encoding", "", "the files' character set (default utf-8): "+strings.Join(textenc.Names(), ", "))
	cmd.Flags().StringVar(&pf.region, "region", "", "ISO country of the data: the region of phone numbers without a country prefix and, with --columns, the address country")
	cmd.Flags().IntVarP(&fb.sample, "verbose", "v", 0, "print this many missed and wrongly merged pairs with their evidence")
	return cmd
}
