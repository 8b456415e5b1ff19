package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/quality"
)

// febrlFlags are bench quality's flags for outside data in FEBRL's layout.
type febrlFlags struct {
	dir, inputA, inputB string
	withoutID           bool
	model               string // auto, estimated or defaults (qualityModel)
	method              string
	sample              int
	seed                int64
}

func (f febrlFlags) set() bool { return f.dir != "" || f.inputA != "" || f.inputB != "" }

// febrlSet is one FEBRL benchmark: one file deduplicated, or two files
// (two systems) linked.
type febrlSet struct {
	name  string
	files []string
}

// sets lists the benchmarks the flags name: with --febrl DIR, the two
// systems of dataset4a/4b and each one-system file dataset1-3 found there.
func (f febrlFlags) sets() ([]febrlSet, error) {
	if f.dir == "" {
		if f.inputA == "" {
			return nil, errors.New("bench quality: --input-b needs --input-a")
		}
		if f.inputB == "" {
			return []febrlSet{{"one system", []string{f.inputA}}}, nil
		}
		return []febrlSet{{"two systems", []string{f.inputA, f.inputB}}}, nil
	}
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(f.dir, name))
		return err == nil
	}
	var out []febrlSet
	if exists("dataset4a.csv") && exists("dataset4b.csv") {
		out = append(out, febrlSet{"4a+4b two systems", []string{filepath.Join(f.dir, "dataset4a.csv"), filepath.Join(f.dir, "dataset4b.csv")}})
	}
	for _, n := range []string{"dataset1.csv", "dataset2.csv", "dataset3.csv"} {
		if exists(n) {
			out = append(out, febrlSet{strings.TrimSuffix(strings.TrimPrefix(n, "dataset"), ".csv") + " one system", []string{filepath.Join(f.dir, n)}})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench quality: %s holds no FEBRL files (dataset4a.csv with dataset4b.csv, dataset1-3.csv): %w", f.dir, fs.ErrNotExist)
	}
	return out, nil
}

// runFEBRL scores the resolver on FEBRL files: the records are mapped as
// an Australian source's mapping would (quality.ReadFEBRL) and resolved
// as the hub resolves them.
func runFEBRL(out io.Writer, f febrlFlags) error {
	sets, err := f.sets()
	if err != nil {
		return err
	}
	ids := "with id"
	if f.withoutID {
		ids = "without id"
	}
	for _, set := range sets {
		var recs []quality.Record
		for i, path := range set.files {
			rs, err := quality.ReadFEBRLFile(path, quality.FEBRLOptions{System: string(rune('a' + i)), WithoutID: f.withoutID})
			if err != nil {
				return fmt.Errorf("bench quality: %w", err)
			}
			recs = append(recs, rs...)
		}
		if err := scoreSet(out, f, "febrl", set.name, ids, "AU", recs); err != nil {
			return err
		}
	}
	return nil
}

// scoreSet resolves recs under the model --model names (by default what
// the default config would use: estimated from them once they hold
// estimate_min_records persons) and prints the score, the review queue
// and, with -v, sample mistakes. what names the data ("febrl", "persons").
func scoreSet(out io.Writer, f febrlFlags, what, name, ids, region string, recs []quality.Record) error {
	cfg := identity.Config{DefaultRegion: region, Fuzzy: &identity.FuzzyConfig{Method: f.method}}
	model := "default"
	if f.method == identity.MethodWeighted {
		model = "weighted"
	} else {
		p, desc, err := qualityModel(cfg, quality.Records(recs), f.model)
		if err != nil {
			return fmt.Errorf("bench quality: %s: %w", name, err)
		}
		cfg.Fuzzy.People, model = p, desc
	}
	res := quality.Run(cfg, recs)
	fmt.Fprintf(out, "%s %-18s %-10s records %5d precision %.4f recall %.4f F1 %.4f (true pairs %d, found %d) model %s\n",
		what, name, ids, len(recs), res.Score.Precision, res.Score.Recall, res.Score.F1, res.Score.TruePairs, res.Score.FoundPairs, model)
	printReview(out, res.Review)
	if f.sample > 0 {
		printMistakes(out, identity.New(cfg), recs, quality.Sample(recs, res.Assign, f.sample))
	}
	return nil
}

// printReview prints the review queue against the truth and the figures
// once a steward decided it rightly: a pair held for review is counted
// as missed above, but a person looks at it instead of it being lost.
func printReview(out io.Writer, r quality.ReviewScore) {
	fmt.Fprintf(out, "  review queue %d pairs, %d of them one person; after a steward decides them rightly: precision %.4f recall %.4f F1 %.4f\n",
		r.Pairs, r.TruePairs, r.After.Precision, r.After.Recall, r.After.F1)
}

// printMistakes shows sample missed and wrongly merged pairs with the
// resolver's evidence, to see what kind of error the matcher cannot see.
func printMistakes(out io.Writer, r *identity.Resolver, recs []quality.Record, m quality.Mistakes) {
	in := quality.Records(recs)
	byKey := make(map[string]identity.Record, len(in))
	for _, x := range in {
		byKey[x.Key()] = x
	}
	show := func(what string, pairs [][2]quality.Record) {
		for _, p := range pairs {
			fmt.Fprintf(out, "  %s %s ~ %s\n", what, p[0].Key, p[1].Key)
			for _, x := range p {
				c := x.Customer
				var addr, ids string
				if len(c.Addresses) > 0 {
					a := c.Addresses[0]
					addr = strings.ReplaceAll(strings.TrimSuffix(a.Street+"\n"+a.Street2, "\n"), "\n", " / ") + " | " + a.PostalCode + " " + a.City
				}
				if len(c.Identifiers) > 0 {
					ids = c.Identifiers[0].Value
				}
				fmt.Fprintf(out, "    %q %q | %s | %s | %s\n", c.GivenName, c.FamilyName, addr, c.BirthDate, ids)
			}
			ev, ok := r.Explain(byKey[p[0].Key], byKey[p[1].Key])
			if !ok {
				continue
			}
			var terms []string
			for _, t := range ev.Terms {
				terms = append(terms, fmt.Sprintf("%s %s %+.1f", t.Comparison, t.Level, t.Weight))
			}
			fmt.Fprintf(out, "    p=%.4f auto=%v %s%s\n", ev.Probability, ev.Auto, strings.Join(terms, ", "),
				map[bool]string{true: " hold: " + ev.Hold, false: ""}[ev.Hold != ""])
		}
	}
	show("missed", m.Missed)
	show("merged", m.Merged)
}

// Values of bench quality --model.
const (
	modelAuto      = "auto"
	modelEstimated = "estimated"
	modelDefaults  = "defaults"
)

// qualityModel is the person model bench quality scores with: with mode
// auto what a hub on the default config settles on (estimate: auto: the
// model estimated from the records, identity.AutoEstimate, once they hold
// estimate_min_records persons, else the defaults), with estimated that
// estimate whatever the number of records, with defaults the defaults. A
// nil model is the defaults.
func qualityModel(cfg identity.Config, recs []identity.Record, mode string) (*identity.Params, string, error) {
	persons := 0
	for _, r := range recs {
		if r.Customer.Kind != "organization" {
			persons++
		}
	}
	switch mode {
	case modelDefaults:
		return nil, "defaults", nil
	case modelAuto:
		if persons < config.DefaultEstimateMinRecords {
			return nil, fmt.Sprintf("defaults (%d persons, below estimate_min_records %d)", persons, config.DefaultEstimateMinRecords), nil
		}
	case modelEstimated:
	default:
		return nil, "", fmt.Errorf("--model %q: want auto, estimated or defaults", mode)
	}
	p, st, err := identity.New(cfg).AutoEstimate(recs, identity.DefaultParams())
	if err != nil {
		return nil, "", fmt.Errorf("estimate: %w", err)
	}
	desc := fmt.Sprintf("estimated (%d blocked pairs, %.3f of them matches)", st.BlockedPairs, st.MatchShare)
	if p.TwinShare != nil {
		desc += fmt.Sprintf(", twin share %.2g%s", *p.TwinShare, twinSharesText(p))
	}
	return p, desc, nil
}

// twinSharesText lists the twin shares per given-name level, " (similar
// 0.0042, else 1)", or nothing where the model has none.
func twinSharesText(p *identity.Params) string {
	if len(p.TwinShares) == 0 {
		return ""
	}
	levels := slices.Sorted(maps.Keys(p.TwinShares))
	parts := make([]string, len(levels))
	for i, l := range levels {
		parts[i] = fmt.Sprintf("%s %.2g", l, p.TwinShares[l])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
