package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/store"
)

// splitSample is a pair of one real person's records that ended in two
// golden customers, with the evidence of the model the hub settled on and
// of the configured one (the defaults unless a params file is named): bench
// sync -v shows where an estimated model loses recall the configured one
// had, or the reverse.
type splitSample struct {
	A, B       string
	Settled    float64 // match probability under the model the hub settled on
	Configured float64 // under the configured model
	Hold       string  // why the settled model holds the pair for review, if it does
	Terms      string  // each comparison's level and weight under the settled model
}

// splitSamples lists up to n pairs of person records the truth says are
// one person and the store keeps in two golden customers, sorted by key.
func splitSamples(ctx context.Context, st *store.Store, idc identity.Config, settled *identity.Params, tr *demo.Truth, assign map[string]string, n int) ([]splitSample, error) {
	recs, err := st.CustomerRecords(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("split samples: %w", err)
	}
	byKey := make(map[string]identity.Record, len(recs))
	for _, r := range recs {
		byKey[r.Key()] = r
	}
	configured := identity.New(idc)
	if settled != nil && idc.Fuzzy != nil {
		f := *idc.Fuzzy
		f.People = settled
		idc.Fuzzy = &f
	}
	model := identity.New(idc)
	byPerson := map[string][]string{}
	for _, r := range tr.Records {
		if strings.HasPrefix(r.PersonID, "P") {
			byPerson[r.PersonID] = append(byPerson[r.PersonID], r.Key())
		}
	}
	persons := make([]string, 0, len(byPerson))
	for p := range byPerson {
		persons = append(persons, p)
	}
	sort.Strings(persons)
	var out []splitSample
	for _, p := range persons {
		keys := byPerson[p]
		sort.Strings(keys)
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				a, b := keys[i], keys[j]
				if assign[a] == "" || assign[a] == assign[b] {
					continue
				}
				ra, oka := byKey[a]
				rb, okb := byKey[b]
				if !oka || !okb {
					continue
				}
				ev, ok := model.Explain(ra, rb)
				if !ok {
					continue
				}
				s := splitSample{A: a, B: b, Settled: ev.Probability, Hold: ev.Hold}
				if cev, ok := configured.Explain(ra, rb); ok {
					s.Configured = cev.Probability
				}
				var terms []string
				for _, t := range ev.Terms {
					terms = append(terms, fmt.Sprintf("%s %s %+.1f", t.Comparison, t.Level, t.Weight))
				}
				s.Terms = strings.Join(terms, ", ")
				out = append(out, s)
				if len(out) >= n {
					return out, nil
				}
			}
		}
	}
	return out, nil
}

func printSplits(w io.Writer, ss []splitSample) {
	for _, s := range ss {
		hold := ""
		if s.Hold != "" {
			hold = " hold: " + s.Hold
		}
		fmt.Fprintf(w, "  split %s ~ %s p=%.4f (configured %.4f)%s\n    %s\n", s.A, s.B, s.Settled, s.Configured, hold, s.Terms)
	}
}
