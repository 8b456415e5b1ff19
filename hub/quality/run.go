package quality

import (
	"slices"
	"strings"
	"time"

	"github.com/crmhub/crmhub/hub/identity"
)

// Result is one benchmark run: the pairwise score and, per corruption kind,
// the share of corrupted copies clustered with their original.
type Result struct {
	Score      Score
	KindRecall map[string]float64
	KindCount  map[string]int
	// Assign is the clustering: record key -> golden id.
	Assign map[string]string
	// Review is what the review queue holds and what the clustering would
	// score once a steward decided every item rightly (accepted the true
	// pairs, rejected the others): the automatic figures count a pair held
	// for review as missed, though nothing of it is lost.
	Review ReviewScore
}

// ReviewScore is the review queue against the ground truth.
type ReviewScore struct {
	Pairs, TruePairs int   // items in the queue, and those that are one entity
	After            Score // the clustering with the true items accepted
}

// Run resolves recs with the real resolver built from cfg (as hub/store does)
// and scores the clusters against the generator's ground truth.
func Run(cfg identity.Config, recs []Record) Result {
	out := identity.New(cfg).Resolve(Records(recs), nil)
	assign := map[string]string{}
	for _, c := range out.Clusters {
		for _, r := range c.Records {
			assign[r.Key()] = c.ID
		}
	}
	truth := map[string]string{}
	original := map[string]string{}
	for _, r := range recs {
		truth[r.Key] = r.EntityID
		if r.Corruption == "" {
			original[r.EntityID] = r.Key
		}
	}
	res := Result{Score: Evaluate(truth, assign), KindRecall: map[string]float64{}, KindCount: map[string]int{}, Assign: assign}
	res.Review = reviewScore(truth, assign, out.Reviews)
	hit := map[string]int{}
	for _, r := range recs {
		if r.Corruption == "" {
			continue
		}
		res.KindCount[r.Corruption]++
		if c, ok := assign[r.Key]; ok && c == assign[original[r.EntityID]] {
			hit[r.Corruption]++
		}
	}
	for k, n := range res.KindCount {
		res.KindRecall[k] = float64(hit[k]) / float64(n)
	}
	return res
}

// Records are the generated records as the resolver takes them (without
// the ground truth).
func Records(recs []Record) []identity.Record {
	in := make([]identity.Record, len(recs))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range recs {
		parts := strings.SplitN(r.Key, "/", 3)
		in[i] = identity.Record{System: parts[0], SourceEntity: parts[1], SourceID: parts[2],
			UpdatedAt: t0.Add(time.Duration(i) * time.Second), Customer: r.Customer}
	}
	return in
}

// Mistakes are sample pairs a clustering got wrong: Missed pairs are one
// person in two clusters, Merged pairs two people in one cluster.
type Mistakes struct {
	Missed, Merged [][2]Record
}

// Sample returns up to n missed and n wrongly merged pairs of recs under
// the clustering assign, in record-key order (so runs compare).
func Sample(recs []Record, assign map[string]string, n int) Mistakes {
	sorted := slices.Clone(recs)
	slices.SortFunc(sorted, func(a, b Record) int { return strings.Compare(a.Key, b.Key) })
	byEntity := map[string][]Record{}
	byCluster := map[string][]Record{}
	for _, r := range sorted {
		byEntity[r.EntityID] = append(byEntity[r.EntityID], r)
		if c, ok := assign[r.Key]; ok {
			byCluster[c] = append(byCluster[c], r)
		}
	}
	var m Mistakes
	for _, r := range sorted {
		for _, o := range byEntity[r.EntityID] {
			if len(m.Missed) < n && o.Key > r.Key && (assign[o.Key] == "" || assign[o.Key] != assign[r.Key]) {
				m.Missed = append(m.Missed, [2]Record{r, o})
			}
		}
		for _, o := range byCluster[assign[r.Key]] {
			if len(m.Merged) < n && o.Key > r.Key && o.EntityID != r.EntityID {
				m.Merged = append(m.Merged, [2]Record{r, o})
			}
		}
	}
	return m
}

// reviewScore scores the queue: each item whose two records are one entity
// in truth is accepted (their clusters joined), every other item rejected.
func reviewScore(truth, assign map[string]string, reviews []identity.Candidate) ReviewScore {
	parent := map[string]string{}
	var find func(string) string
	find = func(c string) string {
		p, ok := parent[c]
		if !ok || p == c {
			return c
		}
		r := find(p)
		parent[c] = r
		return r
	}
	clusterOf := func(key string) string {
		if c, ok := assign[key]; ok {
			return c
		}
		return "\x00single:" + key
	}
	var rs ReviewScore
	for _, r := range reviews {
		rs.Pairs++
		ta, okA := truth[r.A]
		tb, okB := truth[r.B]
		if !okA || !okB || ta != tb {
			continue
		}
		rs.TruePairs++
		a, b := find(clusterOf(r.A)), find(clusterOf(r.B))
		if a != b {
			parent[a] = b
		}
	}
	after := make(map[string]string, len(truth))
	for key := range truth {
		after[key] = find(clusterOf(key))
	}
	rs.After = Evaluate(truth, after)
	return rs
}
