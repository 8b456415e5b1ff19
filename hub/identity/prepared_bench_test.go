package identity_test

import (
	"math/rand/v2"
	"testing"

	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/quality"
)

// BenchmarkComparePeople compares each of 600 records with 50 random
// others, as the estimate's random pairs do: one op is all 30,000 pairs.
func BenchmarkComparePeople(b *testing.B) {
	people := goldenPeople()[:600]
	rng := rand.New(rand.NewPCG(1, 2))
	var pairs [][2]int
	for i := range people {
		for range 50 {
			if j := rng.IntN(len(people)); j != i {
				pairs = append(pairs, [2]int{i, j})
			}
		}
	}
	p := identity.DefaultParams()
	b.ReportAllocs()
	for b.Loop() {
		identity.ComparePairs(people, pairs, "DE", false, p)
	}
}

// BenchmarkEstimate estimates a model from 1,000 generated people's
// records with 50 random pairs per record, as the hub's idle estimate does.
func BenchmarkEstimate(b *testing.B) {
	recs := quality.Records(quality.GenerateWith(1000, 7, quality.Options{Contact: true, IDs: true, Households: 0.1}))
	r := identity.New(identity.Config{DefaultRegion: "DE", Fuzzy: identity.DefaultFuzzy()})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Estimate(recs, nil, identity.EstimateOptions{RandomPairs: 1, PairsPerRecord: 50, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLinks scores every blocked pair of 1,000 generated people's
// records with the default model (ScorePair, as apply and rescore do).
func BenchmarkLinks(b *testing.B) {
	recs := quality.Records(quality.GenerateWith(1000, 7, quality.Options{Contact: true, IDs: true, Households: 0.1}))
	r := identity.New(identity.Config{DefaultRegion: "DE", Fuzzy: identity.DefaultFuzzy()})
	b.ReportAllocs()
	for b.Loop() {
		r.Links(recs)
	}
}
