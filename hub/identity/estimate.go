package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
)

// LoadParams reads a person model written by SaveParams (crmhub identity
// train).
func LoadParams(path string) (*Params, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := DefaultParams()
	// Levels are replaced whole, not merged with the defaults: a trained
	// model says every level it knows.
	p.Levels, p.TF = nil, nil
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// SaveParams writes p as indented JSON.
func SaveParams(path string, p *Params) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// EstimateOptions bound the estimation.
type EstimateOptions struct {
	// RandomPairs is how many random pairs estimate u (default 200,000).
	RandomPairs int
	// PairsPerRecord raises RandomPairs to this many per record (see
	// AutoPairsPerRecord).
	PairsPerRecord int
	// Iterations of expectation-maximisation for m (default 25).
	Iterations int
	// Seed makes the random pairs repeatable; the same records and seed
	// give the same model.
	Seed uint64
	// TFMax bounds the names with a term frequency of their own (those
	// seen twice or more, the most frequent first) per comparison;
	// default 5,000.
	TFMax int
	// HashPairs draws the random pairs as each record with its next
	// records in the order of KeyHash instead of from Seed: a few more
	// records then change few pairs (the hub's automatic estimation).
	HashPairs bool
	// FixedM keeps every comparison's m at base's: EM estimates the
	// share of matches (and each pair's match probability, which weighs
	// the random pairs for u) but no m (see AutoEstimate).
	FixedM bool
}

// EstimateStats says what an estimation saw.
type EstimateStats struct {
	Records      int     `json:"records"`
	RandomPairs  int     `json:"random_pairs"`
	BlockedPairs int     `json:"blocked_pairs"`
	Iterations   int     `json:"iterations"`
	MatchShare   float64 `json:"match_share"` // the estimated share of blocked pairs that match
}

// DefaultEstimateMinRecords is how many person records a store holds
// before the hub estimates its own model (estimate_min_records' default):
// from about 250 the estimate scored at least as the fixed defaults on
// every maker's data measured (docs/identity-quality.md, "How many records
// an estimate needs"); below, the configured model stays.
const DefaultEstimateMinRecords = 250

// ErrTooFewRecords is returned when there are too few people to estimate
// from.
var ErrTooFewRecords = errors.New("too few person records to estimate a model from (want 100 or more)")

// Estimate learns a person model from records without labels, as Splink
// does: u from random pairs of records (two random people agree on a
// level that often), name term frequencies from the records, and m and the
// prior by expectation-maximisation over the pairs the blocking rules
// bring together, u held fixed; then u once more from the random pairs,
// each weighted by the probability that it is no match, and m and the
// prior again. base gives the starting m and the
// thresholds (DefaultParams when nil). The result depends only on the
// records (as a set: they are sorted by key first), the options and base.
func (r *Resolver) Estimate(recs []Record, base *Params, opt EstimateOptions) (*Params, EstimateStats, error) {
	if base == nil {
		base = DefaultParams()
	}
	if opt.RandomPairs == 0 {
		opt.RandomPairs = 200000
	}
	if opt.Iterations == 0 {
		opt.Iterations = 25
	}
	if opt.TFMax == 0 {
		opt.TFMax = 5000
	}
	var people []Record
	for _, rec := range recs {
		if rec.Customer.Kind != "organization" {
			people = append(people, rec)
		}
	}
	sort.Slice(people, func(i, j int) bool { return people[i].Key() < people[j].Key() })
	st := EstimateStats{Records: len(people)}
	if len(people) < 100 {
		return nil, st, ErrTooFewRecords
	}
	region := r.cfg.DefaultRegion
	taxEv := r.taxIsEvidence("person")
	// Each record is compared with PairsPerRecord random others and its
	// blocks' members, several times over: prepared once.
	prepared := make([]*person, len(people))
	for i, p := range people {
		prepared[i] = preparePerson(p.Customer, region, taxEv)
	}
	out := &Params{Version: base.Version + 1, Prior: base.Prior, AutoMerge: base.AutoMerge, Review: base.Review,
		Levels: map[string]map[string]MU{}}

	// u: how often two random people agree on each level.
	rng := rand.New(rand.NewPCG(opt.Seed, 0x63726d687562))
	counts := make([]map[string]float64, len(Comparisons))
	totals := make([]float64, len(Comparisons))
	for i := range counts {
		counts[i] = map[string]float64{}
	}
	n := len(people)
	maxPairs := n * (n - 1) / 2
	pairs := min(max(opt.RandomPairs, opt.PairsPerRecord*n), maxPairs)
	var fixed [][2]int
	if opt.HashPairs {
		fixed = hashPairs(people, pairs)
		pairs = len(fixed)
	}
	// The random pairs' comparison vectors, counted by pattern: a few
	// hundred distinct patterns stand for millions of pairs.
	randomGs := map[gamma]float64{}
	var partialPairs float64 // random pairs with two birth dates, one or both partial
	// Random pairs with an address comparison whose addresses can reach
	// the area level (a record without a street, both with a postal code)
	// or the town level (a record with a city alone, both with a city).
	var areaPairs, townPairs float64
	for k := range pairs {
		var a, b int
		if fixed != nil {
			a, b = fixed[k][0], fixed[k][1]
		} else {
			a, b = rng.IntN(n), rng.IntN(n-1)
			if b >= a {
				b++
			}
		}
		g, _ := comparePrepared(prepared[a], prepared[b], base)
		randomGs[g]++
		if g[iBirth] != "" && (!prepared[a].birth.ok || !prepared[b].birth.ok) {
			partialPairs++
		}
		if g[iAddress] != "" {
			area, town := ownPairsOf(prepared[a], prepared[b])
			if area {
				areaPairs++
			}
			if town {
				townPairs++
			}
		}
		for i, l := range g {
			if l != "" {
				counts[i][l]++
				totals[i]++
			}
		}
	}
	st.RandomPairs = pairs
	for i, c := range Comparisons {
		out.Levels[c] = map[string]MU{}
		for level, mu := range base.Levels[c] {
			u := mu.U
			if totals[i] > 0 {
				// Half a pair where none was seen: a level no random pair
				// reached is rare, not impossible.
				u = max(counts[i][level], 0.5) / (totals[i] + 0.5*float64(len(base.Levels[c])))
			}
			out.Levels[c][level] = MU{M: mu.M, U: u}
		}
	}
	if mu, ok := out.Levels[CompBirthDate][LevelPartial]; ok && totals[iBirth] > 0 {
		out.Levels[CompBirthDate][LevelPartial] = MU{M: partialM(base, partialPairs/totals[iBirth], mu.U), U: mu.U}
	}
	if totals[iAddress] > 0 {
		for level, n := range map[string]float64{LevelArea: areaPairs, LevelTown: townPairs} {
			if mu, ok := out.Levels[CompAddress][level]; ok {
				out.Levels[CompAddress][level] = MU{M: ownPairsM(base, level, n/totals[iAddress], mu.U), U: mu.U}
			}
		}
	}

	// Term frequencies of names: the u of an exact match on that name.
	out.TF = map[string]map[string]float64{}
	for _, comp := range []string{CompGiven, CompFamily} {
		freq := map[string]int{}
		total := 0
		for _, p := range prepared {
			v := p.given.s
			if comp == CompFamily {
				v = p.family.s
			}
			if v != "" {
				freq[v]++
				total++
			}
		}
		type nf struct {
			name string
			n    int
		}
		var list []nf
		for name, c := range freq {
			if c >= 2 {
				list = append(list, nf{name, c})
			}
		}
		sort.Slice(list, func(i, j int) bool {
			return list[i].n > list[j].n || list[i].n == list[j].n && list[i].name < list[j].name
		})
		if len(list) > opt.TFMax {
			list = list[:opt.TFMax]
		}
		tf := map[string]float64{}
		for _, x := range list {
			tf[x.name] = float64(x.n) / float64(total)
		}
		out.TF[comp] = tf
	}

	// m and the prior: EM over the blocked pairs, one blocking rule at a
	// time. Pairs a rule brings together agree on that rule's attributes
	// by construction, so EM over them learns nothing of those
	// comparisons (and, run over all rules at once, took every blocked
	// pair for a match): each rule's EM holds its own comparisons at the
	// current m and estimates the others, and each comparison's m is the
	// average of the rules that estimated it, weighted by their matches.
	byRule := r.blockedPairs(people)
	var rules []string
	for rule, ps := range byRule {
		rules = append(rules, rule)
		st.BlockedPairs += len(ps)
	}
	sort.Strings(rules)
	if st.BlockedPairs == 0 {
		return nil, st, fmt.Errorf("no pairs share a blocking key: %w", ErrTooFewRecords)
	}
	emPass := func() (lambda float64, distinct int) {
		mAcc := make([]map[string]float64, len(Comparisons))
		wAcc := make([]float64, len(Comparisons))
		for i := range mAcc {
			mAcc[i] = map[string]float64{}
		}
		// Each distinct pair's match probability: the mean of the
		// probabilities the rules that found it gave it.
		type pairShare struct {
			sum float64
			n   int
		}
		shares := map[[2]int]*pairShare{}
		for _, rule := range rules {
			held := heldComparisons(rule)
			gs := make([]gamma, len(byRule[rule]))
			for i, l := range byRule[rule] {
				gs[i], _ = comparePrepared(prepared[l[0]], prepared[l[1]], out)
			}
			fixed := unidentified(gs, held)
			if opt.FixedM {
				fixed = allComparisons
			}
			m, lambda, its, post := emRule(gs, out, held, fixed, opt.Iterations)
			st.Iterations = max(st.Iterations, its)
			for i, l := range byRule[rule] {
				s := shares[l]
				if s == nil {
					s = &pairShare{}
					shares[l] = s
				}
				s.sum += post[i]
				s.n++
			}
			pm := lambda * float64(len(gs))
			for i := range Comparisons {
				if held[i] || m[i] == nil {
					continue
				}
				for level, v := range m[i] {
					mAcc[i][level] += v * pm
				}
				wAcc[i] += pm
			}
		}
		for i, c := range Comparisons {
			if wAcc[i] == 0 {
				continue
			}
			for level, mu := range out.Levels[c] {
				mu.M = max(mAcc[i][level]/wAcc[i], mFloor(mu.U))
				out.Levels[c][level] = mu
			}
		}
		// The share of matches among the distinct blocked pairs, each pair
		// counted once: a true pair is found by most rules (it agrees on most
		// attributes), a pair of strangers by one, so summed over the rules
		// the matches were counted about three times as often as the other
		// pairs and the prior came out about three times too high.
		keys := make([][2]int, 0, len(shares))
		for k := range shares {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
		})
		var matches float64 // summed in one order: the model must not depend on map order
		for _, k := range keys {
			matches += shares[k].sum / float64(shares[k].n)
		}
		distinct = len(shares)
		return min(matches/float64(distinct), 1), distinct
	}
	// Random pairs are mostly strangers but not only: the matches among
	// them (a share about the prior) agree on a full birth date or an
	// address far more often than strangers do, and on a few thousand
	// records they are most of the random pairs that agree on either (u
	// of an equal birth date came out 4x too high, and a birth date and a
	// name that agree after a move weighed too little for a merge). Once
	// EM has m and the prior, each random pair counts towards u with the
	// probability that it is no match, and EM runs again with that u.
	lambda, distinct := emPass()
	prior := min(max(lambda*float64(distinct)/float64(maxPairs), 1e-9), 0.5)
	ucounts := make([]map[string]float64, len(Comparisons))
	utotals := make([]float64, len(Comparisons))
	for i := range ucounts {
		ucounts[i] = map[string]float64{}
	}
	patterns := make([]gamma, 0, len(randomGs))
	for g := range randomGs {
		patterns = append(patterns, g)
	}
	// Summed in one order: the model must not depend on map order.
	sort.Slice(patterns, func(i, j int) bool { return lessGamma(patterns[i], patterns[j]) })
	for _, g := range patterns {
		n := randomGs[g]
		w := math.Log2(prior / (1 - prior))
		for i, l := range g {
			w += levelWeight(out, Comparisons[i], l)
		}
		stranger := 1 - 1/(1+math.Exp2(-w))
		for i, l := range g {
			if l != "" {
				ucounts[i][l] += stranger * n
				utotals[i] += stranger * n
			}
		}
	}
	for i, c := range Comparisons {
		if utotals[i] == 0 {
			continue
		}
		for level, mu := range out.Levels[c] {
			mu.U = max(ucounts[i][level], 0.5) / (utotals[i] + 0.5*float64(len(base.Levels[c])))
			out.Levels[c][level] = mu
		}
	}
	lambda, distinct = emPass()
	st.BlockedPairs = distinct
	st.MatchShare = lambda
	// The prior over all pairs: the matching blocked pairs among all.
	out.Prior = min(max(lambda*float64(distinct)/float64(maxPairs), 1e-9), 0.5)
	share, shares := twinShare(prepared, byRule, out)
	out.TwinShare, out.TwinShares = &share, shares
	out.Source = fmt.Sprintf("estimated from %d person records: u from %d random pairs, m by EM over %d blocked pairs (%d iterations)",
		st.Records, st.RandomPairs, st.BlockedPairs, st.Iterations)
	if err := out.Validate(); err != nil {
		return nil, st, fmt.Errorf("estimated model: %w", err)
	}
	return out, st, nil
}

// twinsPerRelatives is the share of twins among the pairs of relatives who
// share a family name and a home: a few in a hundred. About one birth in
// 60-80 is a twin birth in Europe, the US and Australia, so among the
// sibling pairs of a family of two to four children a few are twins, and
// spouses and parents with their children dilute that further; 0.04 errs
// on the side of twins.
const twinsPerRelatives = 0.04

// twinShare estimates the share of twins among the blocked pairs that
// agree on family name, birth date and street (one house, or another
// number in the street: sameDayHouse) and differ only in the given name
// (held as holdGivenNames), from the store's own households and
// neighbours: the pairs that agree on family name and street and differ
// in the given name and the birth date are relatives (a spouse, a parent,
// a sibling, next door as under one roof), and twins come at
// twinsPerRelatives of them. Where the store
// holds many pairs of the first kind and few of the second, they are
// copies of one person with another given name (a data entry that
// replaced it), not twins: a store with no households has no twins living
// together either. One relative pair more than seen keeps a small store
// from claiming certainty; with no pair of the first kind the share is 1,
// and the hold stays.
//
// Twins and such copies cannot be told apart pair by pair (they agree on
// everything but the given name), nor by EM, which sees one class; only
// how many there are against the households around them says which they
// are, and how their given names differ: a copy's replaced letters leave
// a similar name more often than a family gives two (MOHAMMED and
// HOHAHHED), where twins' names differ as their relatives' do. The
// second result is the share per level of the given-name comparison
// (Params.TwinShares): where the relatives rarely have similar names and
// the same-day pairs mostly do, the similar ones are copies, while the
// same-day pairs at else stay held.
func twinShare(people []*person, byRule map[string][][2]int, p *Params) (float64, map[string]float64) {
	seen := map[[2]int]bool{}
	sameDayAt, otherDayAt := map[string]float64{}, map[string]float64{}
	for _, ps := range byRule {
		for _, l := range ps {
			if seen[l] {
				continue
			}
			seen[l] = true
			a, b := people[l[0]], people[l[1]]
			g, swapped := comparePrepared(a, b, p)
			if hold(a, b, g, swapped) != holdGivenNames {
				continue
			}
			switch {
			case sameDayHouse(a, b, g, swapped):
				sameDayAt[g[iGiven]]++
			case sameStreetFamily(a, b, g, swapped) && (g[iBirth] == LevelElse || g[iBirth] == LevelSimilar || g[iBirth] == LevelMonth || g[iBirth] == LevelOnePart):
				otherDayAt[g[iGiven]]++
			}
		}
	}
	return twinSharesOf(sameDayAt, otherDayAt)
}

// twinSharesOf is twinShare's pooled and per-level shares from the
// same-day pairs and the relatives (other birth date) at each given-name
// level.
func twinSharesOf(sameDayAt, otherDayAt map[string]float64) (float64, map[string]float64) {
	var sameDay, otherDay float64
	for _, n := range sameDayAt {
		sameDay += n
	}
	for _, n := range otherDayAt {
		otherDay += n
	}
	if sameDay == 0 {
		return 1, nil
	}
	// The twins' given names are two names of one family, as the other
	// relatives' are: their levels come at the relatives' shares, where
	// the one relative pair more than seen is spread over the levels as
	// the same-day pairs are (with no relatives seen, each level's share
	// is then the pooled one). At no level can the twins outnumber the
	// same-day pairs there (one more than seen), so the most twins the
	// store allows is the fewest of those bounds and of
	// twinsPerRelatives of the relatives; each level's share is its
	// twins at that most among its same-day pairs, and never below the
	// share of a store with the same same-day pairs and no relatives
	// (one same-day pair says too little to call it a copy, whatever
	// the relatives around it).
	rel := func(level string) float64 { return (otherDayAt[level] + sameDayAt[level]/sameDay) / (otherDay + 1) }
	twins := twinsPerRelatives * (otherDay + 1)
	for _, at := range []map[string]float64{sameDayAt, otherDayAt} {
		for level := range at {
			twins = min(twins, (sameDayAt[level]+1)/rel(level))
		}
	}
	shares := map[string]float64{}
	for level, n := range sameDayAt {
		shares[level] = min(max(twins*rel(level)/n, twinsPerRelatives/sameDay), 1)
	}
	return min(twinsPerRelatives*(otherDay+1)/sameDay, 1), shares
}

// ruleComparisons are the comparisons each blocking rule's pairs agree on
// by construction (see blockKeys and personBlockKeys).
var ruleComparisons = map[string][]int{
	"bd": {iBirth}, "nm": {iGiven, iFamily}, "pf": {iAddress, iFamily}, "gp": {iAddress, iGiven},
	"sh": {iAddress}, "id": {iIdent}, "ed": {iEmail, iFamily, iGiven}, "pp": {iPhone, iFamily}, "pg": {iPhone, iGiven},
}

// heldComparisons are the comparisons a rule's EM leaves at their current
// m: those its pairs agree on by construction, and those that agree with
// them among different people too. Relatives share a family name and an
// address, so among the pairs one of them brings together the other is
// no sign of one person: run free, EM took every household for a match
// (a different given name and birth date cost less than a shared family
// name or address won) and learnt an m of a matching family name, given
// name and birth date far too low, which cost the pairs that agree on all
// three and no longer on the address (a move) their merge.
func heldComparisons(rule string) map[int]bool {
	held := map[int]bool{}
	for _, i := range ruleComparisons[rule] {
		held[i] = true
	}
	if held[iFamily] || held[iAddress] {
		held[iFamily], held[iAddress] = true, true
	}
	return held
}

// minWitnessShare is the share of a rule's pairs on which a free
// comparison must have a value to count as a witness in unidentified.
const minWitnessShare = 0.1

// unidentified are the free comparisons (not held) whose m a rule's pairs
// cannot identify: all of them when fewer than three free comparisons have
// a value on at least minWitnessShare of the pairs.
//
// With u fixed, the level shares of a single free comparison C over the
// pairs are lambda*m(C) + (1-lambda)*u(C): K-1 shares for K unknowns
// (lambda and K-1 m), a line of solutions, and EM stops wherever its start
// leads it. The rules "nm" and "gp" hold the names and the address, so on
// records with no identifier, e-mail or phone only the birth date was free
// there: EM traded the share of matches against m of a different birth
// date and learnt 0.13 for it (the generator's truth is about 0: a copy
// keeps the birth date, or has it one digit or a day/month swap apart).
// Two free comparisons would do if u were the u of the rule's non-matches,
// but it is the u of random pairs, and a rule's non-matches agree on the
// rule's columns and on what goes with them (a household shares a street,
// a family name and the language of its given names): with the given name
// and birth date free on "sh", EM took relatives with similar given names
// for matches and learnt 0.08. Without u, a mixture of two classes is
// identified from three conditionally independent comparisons and not from
// two (Allman, Matias and Rhodes 2009, after Kruskal), so a rule estimates
// m only where three witnesses are free. This depends on which rules hold
// which comparisons and on which values are present, never on the values
// themselves. A comparison no rule can estimate keeps the starting model's
// m; the unidentified comparisons still score the rule's pairs at their
// current m, so the rule's share of matches and each pair's match
// probability are still estimated.
func unidentified(gs []gamma, held map[int]bool) map[int]bool {
	if len(gs) == 0 {
		return nil
	}
	seen := make([]int, len(Comparisons))
	for _, g := range gs {
		for i, l := range g {
			if l != "" {
				seen[i]++
			}
		}
	}
	free, witnesses := map[int]bool{}, 0
	for i := range Comparisons {
		if held[i] || seen[i] == 0 {
			continue
		}
		free[i] = true
		if float64(seen[i]) >= minWitnessShare*float64(len(gs)) {
			witnesses++
		}
	}
	if witnesses >= 3 {
		return nil
	}
	return free
}

// lessGamma orders comparison vectors level by level.
func lessGamma(a, b gamma) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// allComparisons marks every comparison: with EstimateOptions.FixedM, EM
// holds all of them at base's m and estimates the share of matches only.
var allComparisons = func() map[int]bool {
	all := make(map[int]bool, len(Comparisons))
	for i := range Comparisons {
		all[i] = true
	}
	return all
}()

// partialM is the partial level's m in a store where share of the pairs
// with two birth dates have a partial one: one person's records agree to
// the month where a date is partial as often as their full dates do
// (base's exact, close and month levels), so m is that times the share.
// A fixed m would say how many partial dates a store holds, which only
// the store knows; its u is the store's already. At least mFloor(u): with
// no partial date seen the level says nothing.
func partialM(base *Params, share, u float64) float64 {
	lv := base.Levels[CompBirthDate]
	return shareM(share, lv[LevelExact].M+lv[LevelClose].M+lv[LevelMonth].M, u)
}

// shareM is the m of a level whose configured m is of its own pairs only
// (partial dates, an address without a street): that m times the store's
// share of pairs that can reach the level, at least mFloor(u), at most 1.
func shareM(share, m, u float64) float64 {
	return min(max(share*m, mFloor(u)), 1)
}

// mFloor is the least m an estimate takes for a level of the given u. The
// floor of 0.001 keeps a level never seen among matches from weighing
// minus infinity; but over a u far below it (a postal code shared with
// another street by 5 in a million random pairs) it made a level that EM
// saw neither among matches nor among strangers weigh +7.6 bits for a
// match, evidence out of nothing. Never seen among the matches and rarely
// among strangers says nothing either way: m is floored at u there, a
// weight of 0, and a level seen among the matches keeps its estimate.
func mFloor(u float64) float64 {
	return min(0.001, u)
}

// emRule runs expectation-maximisation over one rule's pairs: u fixed,
// the comparisons' m and the share of matches estimated; the held
// comparisons are left out, the fixed ones score at p's m and are not
// estimated. It returns the estimated m per comparison (nil for held and
// fixed ones), the share, the iterations run and each pair's match
// probability.
func emRule(gs []gamma, p *Params, held, fixed map[int]bool, iterations int) ([]map[string]float64, float64, int, []float64) {
	m := make([]map[string]float64, len(Comparisons))
	for i, c := range Comparisons {
		if held[i] || fixed[i] {
			continue
		}
		m[i] = map[string]float64{}
		for level, mu := range p.Levels[c] {
			m[i][level] = mu.M
		}
	}
	weight := func(i int, level string) float64 {
		mu := p.Levels[Comparisons[i]][level]
		if m[i] != nil {
			mu.M = m[i][level]
		}
		return mu.Weight()
	}
	lambda := 0.1
	it := 0
	post := make([]float64, len(gs))
	for it < iterations {
		it++
		sum := make([]map[string]float64, len(Comparisons))
		den := make([]float64, len(Comparisons))
		for i := range sum {
			sum[i] = map[string]float64{}
		}
		var total float64
		// m changes only after the pass over the pairs: each level's
		// weight (a logarithm, a fifth of the estimate when taken per
		// pair) once per iteration.
		prior := math.Log2(lambda / (1 - lambda))
		weights := make([]map[string]float64, len(Comparisons))
		for k, g := range gs {
			w := prior
			for i, l := range g {
				// The held comparisons agree by construction of the
				// rule: they say nothing of which pairs match here.
				if l != "" && !held[i] {
					lw, ok := weights[i][l]
					if !ok {
						if weights[i] == nil {
							weights[i] = map[string]float64{}
						}
						lw = weight(i, l)
						weights[i][l] = lw
					}
					w += lw
				}
			}
			pr := 1 / (1 + math.Exp2(-w))
			post[k] = pr
			total += pr
			for i, l := range g {
				if l != "" && m[i] != nil {
					sum[i][l] += pr
					den[i] += pr
				}
			}
		}
		for i := range m {
			if m[i] == nil || den[i] == 0 {
				continue
			}
			for level := range m[i] {
				m[i][level] = max(sum[i][level]/den[i], mFloor(p.Levels[Comparisons[i]][level].U))
			}
		}
		next := min(max(total/float64(len(gs)), 1e-6), 1-1e-6)
		done := math.Abs(next-lambda) < 1e-6
		lambda = next
		if done {
			break
		}
	}
	return m, lambda, it, post
}

// blockedPairs are the index pairs of records sharing a blocking key, by
// blocking rule, each once per rule; blocks over MaxBlock are skipped as
// Links does.
func (r *Resolver) blockedPairs(recs []Record) map[string][][2]int {
	byKey := r.blocks(recs)
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	seen := map[string]map[[2]int]bool{}
	out := map[string][][2]int{}
	for _, k := range keys {
		idx := byKey[k]
		rule := BlockRule(k)
		if seen[rule] == nil {
			seen[rule] = map[[2]int]bool{}
		}
		for x := 0; x < len(idx); x++ {
			for y := x + 1; y < len(idx); y++ {
				p := [2]int{min(idx[x], idx[y]), max(idx[x], idx[y])}
				if !seen[rule][p] {
					seen[rule][p] = true
					out[rule] = append(out[rule], p)
				}
			}
		}
	}
	return out
}

// ownPairsOf reports whether two persons' addresses can reach the area
// level (some address of one without a street, both with a postal code)
// and the town level (some address of one with a city alone, both with a
// city).
func ownPairsOf(a, b *person) (area, town bool) {
	for i := range a.addrs {
		for j := range b.addrs {
			x, y := &a.addrs[i], &b.addrs[j]
			area = area || (x.noStreet || y.noStreet) && x.postcode != "" && y.postcode != ""
			town = town || (x.cityOnly() || y.cityOnly()) && x.city != "" && y.city != ""
		}
	}
	return area, town
}

// ownPairsM is the m of the area or town level in an estimated model.
// The configured m (0.85) is of the level's own pairs: of one person's
// two records where one gives no street (or a city alone), how often the
// postal code (the city) agrees. The estimate's u is of all random pairs
// with addresses, and only a share of them can reach the level at all,
// as only the same share of one person's pairs can: m is that share
// times the configured m, as partialM does for partial dates. A store
// whose records all lack a street (a census extract, a voter roll) keeps
// m 0.85; one where a few do no longer weighs their pairs by the few:
// until 2026-12-07 the level weighed log2(1/share) bits too much there (a
// store where every tenth record lacked a street, 2.4 bits; the demo,
// where none does, +15.8 bits for a pair that never occurs). At least
// mFloor(u): with no such pair seen the level says nothing.
func ownPairsM(base *Params, level string, share, u float64) float64 {
	return shareM(share, base.Levels[CompAddress][level].M, u)
}
