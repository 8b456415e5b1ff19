package identity_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/quality"
)

// Estimated from records without labels, the model finds what a match
// looks like on data it was not written for, depends on the records as a
// set, and resolves another sample of the same population as well as the
// defaults do.
func TestEstimateWithoutLabels(t *testing.T) {
	t.Parallel() // long and self-contained (an estimate on thousands of records): runs beside the others
	cfg := identity.Config{DefaultRegion: "DE", Fuzzy: identity.DefaultFuzzy()}
	train := quality.Generate(1500, 7, false, false)
	recs := quality.Records(train)
	p, st, err := identity.New(cfg).Estimate(recs, nil, identity.EstimateOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.BlockedPairs == 0 || st.RandomPairs == 0 {
		t.Fatalf("stats %+v", st)
	}
	m := func(comp, level string) float64 { return p.Levels[comp][level].M }
	if m(identity.CompBirthDate, identity.LevelExact) < 0.6 || m(identity.CompAddress, identity.LevelExact) < 0.5 {
		t.Errorf("m of an equal birth date %.3f, of the same address %.3f: want most matches there",
			m(identity.CompBirthDate, identity.LevelExact), m(identity.CompAddress, identity.LevelExact))
	}
	if m(identity.CompBirthDate, identity.LevelElse) > 0.2 {
		t.Errorf("m of a different birth date %.3f: want few matches there", m(identity.CompBirthDate, identity.LevelElse))
	}
	if p.Prior <= 0 || p.Prior > 0.01 {
		t.Errorf("prior %g: want about one over the number of people", p.Prior)
	}

	// The same records in another order give the same model.
	shuffled := append([]identity.Record(nil), recs...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	q, _, err := identity.New(cfg).Estimate(shuffled, nil, identity.EstimateOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Error("the model depends on the order of the records")
	}

	// Saved and loaded, it scores another sample.
	path := filepath.Join(t.TempDir(), "people.json")
	if err := identity.SaveParams(path, p); err != nil {
		t.Fatal(err)
	}
	loaded, err := identity.LoadParams(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Fuzzy.People = loaded
	res := quality.Run(cfg, quality.Generate(1500, 8, false, false))
	if res.Score.F1 < 0.98 {
		t.Errorf("estimated model on another sample: %+v, want F1 >= 0.98", res.Score)
	}
}

func TestEstimateTooFew(t *testing.T) {
	r := identity.New(identity.Config{Fuzzy: identity.DefaultFuzzy()})
	if _, _, err := r.Estimate(quality.Records(quality.Generate(20, 1, false, false)), nil, identity.EstimateOptions{}); err == nil {
		t.Error("a model estimated from 20 people")
	}
}

// Relatives share a family name and an address: a blocking rule on one
// brings them together agreeing on the other. EM must not take them for
// one person, or it learns that a person's records often differ in given
// name and birth date, and the records that agree on both and moved lose
// their merge.
func TestEstimateNotFooledByHouseholds(t *testing.T) {
	t.Parallel() // long and self-contained (an estimate on thousands of records): runs beside the others
	cfg := identity.Config{DefaultRegion: "DE", Fuzzy: identity.DefaultFuzzy()}
	recs := quality.GenerateWith(3000, 11, quality.Options{Households: 0.3})
	p, _, err := identity.New(cfg).Estimate(quality.Records(recs), nil, identity.EstimateOptions{Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	// The generator changes one thing per copy: a given name
	// (transposition, nickname) or a birth date (day and month swapped)
	// differs in far fewer than one match in ten.
	for _, c := range []string{identity.CompGiven, identity.CompBirthDate} {
		if m := p.Levels[c][identity.LevelElse].M; m > 0.1 {
			t.Errorf("m of a different %s %.3f: relatives taken for one person", c, m)
		}
	}
	a := hub.Customer{Kind: "person", GivenName: "Katharina", FamilyName: "Hoffmann", BirthDate: "1971-03-14",
		Addresses: []hub.Address{{Street: "Lindenstr. 12", PostalCode: "04109", City: "Leipzig"}}}
	b := a
	b.Addresses = []hub.Address{{Street: "Gartenstr. 80", PostalCode: "50667", City: "Köln"}}
	if m := p.MatchPeople(a, b, "DE", true); m.Probability < p.AutoMerge {
		t.Errorf("the same name and birth date after a move: p=%.4f, want a merge", m.Probability)
	}
}

// The prior is the share of matches among all pairs: a pair several
// blocking rules find counts once (counted once per rule, it came out
// three times the truth), and the matches among the random pairs that
// estimate u do not make a shared birth date or address look common.
func TestEstimatePriorNearTruth(t *testing.T) {
	t.Parallel() // long and self-contained (an estimate on thousands of records): runs beside the others
	cfg := identity.Config{DefaultRegion: "DE", Fuzzy: identity.DefaultFuzzy()}
	for _, seed := range []int64{3, 4} {
		recs := quality.GenerateWith(3000, seed, quality.Options{Households: 0.15, TwoErrors: 0.25})
		p, _, err := identity.New(cfg).Estimate(quality.Records(recs), nil, identity.EstimateOptions{Seed: uint64(seed)})
		if err != nil {
			t.Fatal(err)
		}
		size := map[string]int{}
		for _, r := range recs {
			size[r.EntityID]++
		}
		truePairs := 0
		for _, k := range size {
			truePairs += k * (k - 1) / 2
		}
		n := len(recs)
		truth := float64(truePairs) / float64(n*(n-1)/2)
		if r := p.Prior / truth; r < 0.7 || r > 1.7 {
			t.Errorf("seed %d: prior %.3g, truth %.3g (%.2fx): want within 1.7x", seed, p.Prior, truth, r)
		}
		// A full birth date: random strangers share one about once in
		// 20,000 pairs or less (a century of birthdays); counted with the
		// matches among the random pairs it came out 1 in 6,000.
		if u := p.Levels[identity.CompBirthDate][identity.LevelExact].U; u > 1.0/12000 {
			t.Errorf("seed %d: u of an equal birth date %.2g: the random pairs' matches counted as strangers", seed, u)
		}
	}
}

// The blocking rules "nm" and "gp" fix the names and the address, which
// left the birth date the only comparison free on records without an
// identifier, e-mail or phone: EM cannot tell the share of matches from m
// there, and learnt 0.13 for a different birth date where the generator
// never makes one (a copy keeps the birth date, or has it one digit or a
// day/month swap apart). Where other comparisons are free beside it (the
// records have e-mails and phones) the estimate must be near the truth,
// counted from the labels; where nothing identifies it, m must stay at the
// starting model's 0.03, not drift away from the truth. And a level EM
// saw among neither matches nor strangers must not weigh for a match (the
// floor of m at 0.001 over a u of 5e-6 made "same postal code, other
// street" +7.6 bits).
func TestEstimateBirthDateMNearTruth(t *testing.T) {
	t.Parallel() // long and self-contained (an estimate on thousands of records): runs beside the others
	cfg := identity.Config{DefaultRegion: "DE", Fuzzy: identity.DefaultFuzzy()}
	start := identity.DefaultParams().Levels[identity.CompBirthDate][identity.LevelElse].M
	for _, tc := range []struct {
		seed    int64
		contact bool
	}{{1, false}, {2, false}, {3, true}, {4, true}} {
		t.Run(fmt.Sprintf("seed%d", tc.seed), func(t *testing.T) {
			t.Parallel()
			birthDateMNearTruth(t, cfg, start, tc.seed, tc.contact)
		})
	}
}

func birthDateMNearTruth(t *testing.T, cfg identity.Config, start float64, seed int64, contact bool) {
	recs := quality.GenerateWith(3000, seed, quality.Options{Households: 0.15, TwoErrors: 0.25, Contact: contact})
	p, _, err := identity.New(cfg).Estimate(quality.Records(recs), nil, identity.EstimateOptions{Seed: uint64(seed)})
	if err != nil {
		t.Fatal(err)
	}
	// The truth: the share of one person's pairs of records with a
	// birth date on both that are on the level "else".
	byEntity := map[string][]hub.Customer{}
	for _, r := range recs {
		byEntity[r.EntityID] = append(byEntity[r.EntityID], r.Customer)
	}
	var pairs, differ float64
	for _, cs := range byEntity {
		for x := range cs {
			for y := x + 1; y < len(cs); y++ {
				for _, term := range p.MatchPeople(cs[x], cs[y], "DE", true).Terms {
					if term.Comparison == identity.CompBirthDate {
						pairs++
						if term.Level == identity.LevelElse {
							differ++
						}
					}
				}
			}
		}
	}
	if pairs == 0 {
		t.Fatal("no true pair with two birth dates")
	}
	truth := differ / pairs
	got := p.Levels[identity.CompBirthDate][identity.LevelElse].M
	want := truth + 0.02
	if !contact {
		want = max(want, start)
	}
	if got > want {
		t.Errorf("seed %d, contact %v: m of a different birth date %.3f, truth %.3f: want at most %.3f",
			seed, contact, got, truth, want)
	}
	for c, levels := range p.Levels {
		for l, mu := range levels {
			if mu.M == 0.001 && mu.U < mu.M {
				t.Errorf("seed %d: %s %s weighs %+.1f bits on m at the floor %.2g over u %.2g: evidence from a level seen nowhere",
					seed, c, l, mu.Weight(), mu.M, mu.U)
			}
		}
	}
}

// The automatic estimate keeps the configured model's m at every level
// and estimates the rest from the records; it draws at least
// AutoPairsPerRecord random pairs per record, so that u keeps its
// resolution as the store grows, and is a function of the records.
func TestAutoEstimate(t *testing.T) {
	t.Parallel() // long and self-contained (an estimate on thousands of records): runs beside the others
	cfg := identity.Config{DefaultRegion: "DE", Fuzzy: identity.DefaultFuzzy()}
	// 2,500 people have more than 4,000 records: more than the first
	// 200,000 random pairs at AutoPairsPerRecord each.
	recs := quality.Records(quality.GenerateWith(2500, 3, quality.Options{Households: 0.15}))
	bent := identity.DefaultParams()
	bent.Levels[identity.CompEmail][identity.LevelClose] = identity.MU{M: 0.2, U: 1e-5}
	for _, c := range []struct {
		name string
		base *identity.Params
	}{
		{"defaults", identity.DefaultParams()},
		{"a hand-set m", bent},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, st, err := identity.New(cfg).AutoEstimate(recs, c.base)
			if err != nil {
				t.Fatal(err)
			}
			// The configured m, rounded as every automatic model is.
			data, err := json.Marshal(c.base)
			if err != nil {
				t.Fatal(err)
			}
			var want identity.Params
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			identity.RoundParams(&want)
			for comp, levels := range want.Levels {
				for level, mu := range levels {
					if comp == identity.CompBirthDate && level == identity.LevelPartial ||
						comp == identity.CompAddress && (level == identity.LevelArea || level == identity.LevelTown) {
						// The store's share of partial dates (of
						// addresses without a street, of a city alone)
						// times the configured m (TestPartialLevelMFromStore,
						// TestAreaLevelMFromStore): this store has none,
						// so no evidence.
						if got := p.Levels[comp][level]; got.M > got.U {
							t.Errorf("m of %s %s: %v over u %v, want no evidence", comp, level, got.M, got.U)
						}
						continue
					}
					if got := p.Levels[comp][level].M; got != mu.M {
						t.Errorf("m of %s %s: %v, want the configured %v", comp, level, got, mu.M)
					}
				}
			}
			if p.Prior == c.base.Prior || p.TwinShare == nil || len(p.TF[identity.CompFamily]) == 0 {
				t.Errorf("prior %v, twin share %v, %d family names: want them estimated", p.Prior, p.TwinShare, len(p.TF[identity.CompFamily]))
			}
			if u := p.Levels[identity.CompBirthDate][identity.LevelExact].U; u == c.base.Levels[identity.CompBirthDate][identity.LevelExact].U {
				t.Errorf("u of an equal birth date %v: want it estimated", u)
			}
			if want := identity.AutoPairsPerRecord * st.Records; st.RandomPairs < want {
				t.Errorf("%d random pairs for %d records: want at least %d", st.RandomPairs, st.Records, want)
			}
			if p.Source != identity.AutoSource {
				t.Errorf("source %q", p.Source)
			}
			shuffled := append([]identity.Record(nil), recs...)
			rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			q, _, err := identity.New(cfg).AutoEstimate(shuffled, c.base)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, q) {
				t.Error("the model depends on the order of the records")
			}
		})
	}
}

// The partial level's m is the store's: the share of its pairs with a
// partial birth date times how often one person's dates agree to the month.
// A store without partial dates gets no evidence from the level (m at most
// u); one where a tenth of the records give only year and month weighs an
// agreement as the rare thing it is among strangers.
func TestPartialLevelMFromStore(t *testing.T) {
	t.Parallel() // an estimate on a few thousand records: runs beside the others
	cfg := identity.Config{DefaultRegion: "DE", Fuzzy: identity.DefaultFuzzy()}
	gen := quality.Generate(800, 3, false, false)
	full := quality.Records(gen)
	partial := make([]identity.Record, len(full))
	copy(partial, full)
	cut := 0
	for i := range partial {
		if b := partial[i].Customer.BirthDate; i%10 == 0 && len(b) == 10 {
			partial[i].Customer.BirthDate = b[:7]
			cut++
		}
	}
	opt := identity.EstimateOptions{Seed: 1, FixedM: true}
	pf, _, err := identity.New(cfg).Estimate(full, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	pp, _, err := identity.New(cfg).Estimate(partial, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	level := func(p *identity.Params) identity.MU { return p.Levels[identity.CompBirthDate][identity.LevelPartial] }
	if mu := level(pf); mu.M > mu.U {
		t.Errorf("no partial date in the store: partial level m %g u %g, want no evidence (m <= u)", mu.M, mu.U)
	}
	// About one pair in five has a partial date on a side (1 - 0.9^2).
	if mu := level(pp); mu.M < 0.1 || mu.M > 0.3 || mu.Weight() < 5 {
		t.Errorf("%d of %d dates partial: partial level m %g u %g (%.1f bits), want m about 0.18 and a strong weight",
			cut, len(partial), mu.M, mu.U, mu.Weight())
	}
}

// The area and town levels' m is of their own pairs (one record without a
// street, or with a city alone): an estimate takes the store's share of
// random pairs that can reach them times the configured m, as for partial
// dates. A store whose records all lack a street keeps the configured m; one
// where every tenth does weighs an agreeing postal code by that share, not
// log2(1/share) bits more.
func TestAreaLevelMFromStore(t *testing.T) {
	t.Parallel() // estimates on a few thousand records: runs beside the others
	cfg := identity.Config{DefaultRegion: "DE", Fuzzy: identity.DefaultFuzzy()}
	full := quality.Records(quality.Generate(800, 3, false, false))
	strip := func(every int) []identity.Record {
		out := make([]identity.Record, len(full))
		copy(out, full)
		for i := range out {
			if i%every != 0 {
				continue
			}
			c := out[i].Customer
			c.Addresses = append([]hub.Address(nil), c.Addresses...)
			for j := range c.Addresses {
				c.Addresses[j].Street, c.Addresses[j].Street2 = "", ""
			}
			out[i].Customer = c
		}
		return out
	}
	opt := identity.EstimateOptions{Seed: 1, FixedM: true}
	area := func(recs []identity.Record) identity.MU {
		p, _, err := identity.New(cfg).Estimate(recs, nil, opt)
		if err != nil {
			t.Fatal(err)
		}
		return p.Levels[identity.CompAddress][identity.LevelArea]
	}
	if mu := area(full); mu.M > mu.U {
		t.Errorf("every record with a street: area m %g u %g, want no evidence (m <= u)", mu.M, mu.U)
	}
	// About one pair in five has a record without a street (1 - 0.9^2).
	tenth := area(strip(10))
	if tenth.M < 0.1 || tenth.M > 0.25 {
		t.Errorf("every tenth record without a street: area m %g, want about 0.16 (0.19 x 0.85)", tenth.M)
	}
	all := area(strip(1))
	if all.M < 0.8 || all.M > 0.9 {
		t.Errorf("no record with a street: area m %g, want the configured 0.85", all.M)
	}
	t.Logf("area m / u / bits: a tenth without a street %.3g / %.3g / %.1f; all %.3g / %.3g / %.1f", tenth.M, tenth.U, tenth.Weight(), all.M, all.U, all.Weight())
	if tenth.Weight() >= all.Weight()+1 {
		t.Errorf("area weighs %.1f bits where a tenth lack a street, %.1f where all do: want no more", tenth.Weight(), all.Weight())
	}
}
