package identity

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/crmhub/crmhub/hub"
)

func stableRecs(n int) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = Record{System: "crm", SourceEntity: "customers", SourceID: fmt.Sprintf("c%04d", i),
			Customer: hub.Customer{Kind: "person", GivenName: fmt.Sprintf("Anna%d", i%7), FamilyName: "Meyer"}}
	}
	return out
}

func TestModelDigest(t *testing.T) {
	recs := stableRecs(20)
	reversed := slices.Clone(recs)
	slices.Reverse(reversed)
	changed := slices.Clone(recs)
	changed[3].Customer.FamilyName = "Maier"
	for _, c := range []struct {
		name string
		recs []Record
		same bool
	}{
		{"reversed", reversed, true},
		{"one read twice", append(slices.Clone(recs), recs[5]), true},
		{"one changed", changed, false},
		{"one missing", recs[1:], false},
	} {
		if got := ModelDigest(c.recs) == ModelDigest(recs); got != c.same {
			t.Errorf("%s: same digest %v, want %v", c.name, got, c.same)
		}
	}
}

// A new record changes few of the hash-ordered pairs (about 2k of n*k),
// and every pair is of two distinct records. (k = want/n steps down every
// n/k records or so, which drops n pairs; the sizes here are between
// steps.)
func TestHashPairsStable(t *testing.T) {
	for _, c := range []struct {
		n, want  int
		maxMoved float64 // share of pairs that may change
	}{
		{1010, 20000, 3.0 / 1010},
		{200, 50000, 0}, // all pairs
		{5010, 200000, 3.0 / 5010},
	} {
		recs := stableRecs(c.n + 1)
		before := hashPairs(recs[:c.n], c.want)
		after := hashPairs(recs, c.want)
		set := map[[2]int]bool{}
		for _, p := range after {
			if p[0] >= p[1] {
				t.Fatalf("n=%d: pair %v is not two distinct records in order", c.n, p)
			}
			set[p] = true
		}
		moved := 0
		for _, p := range before {
			if !set[p] {
				moved++
			}
		}
		if share := float64(moved) / float64(len(before)); share > c.maxMoved {
			t.Errorf("n=%d: a new record moved %d of %d pairs (%.4f), want at most %.4f", c.n, moved, len(before), share, c.maxMoved)
		}
	}
}

func TestRoundParams(t *testing.T) {
	p := DefaultParams()
	p.Prior = 0.000123456
	p.Levels[CompGiven][LevelExact] = MU{M: 0.9876, U: 0.0123}
	p.Levels[CompGiven][LevelElse] = MU{M: 0.996, U: 0.999}
	p.TF = map[string]map[string]float64{CompFamily: {"meyer": 0.0101, "rare": 0.00011}}
	RoundParams(p)
	if p.Prior != 0.00012 {
		t.Errorf("prior %v, want 0.00012", p.Prior)
	}
	if mu := p.Levels[CompGiven][LevelExact]; mu.M != 0.99 || mu.U != 0.012 {
		t.Errorf("exact given name %+v, want m 0.99 u 0.012", mu)
	}
	if mu := p.Levels[CompGiven][LevelElse]; mu.M != 1 || mu.U != 1 {
		t.Errorf("else given name %+v, want m and u rounded to 1, never above", mu)
	}
	for name, f := range p.TF[CompFamily] {
		if half := 2 * math.Log2(f); math.Abs(half-math.Round(half)) > 1e-9 {
			t.Errorf("term frequency of %s %v is off the half-bit grid", name, f)
		}
	}
	if err := p.Validate(); err != nil {
		t.Errorf("rounded model: %v", err)
	}
}
