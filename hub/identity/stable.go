package identity

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// The hub estimates its person model again whenever the store's record set
// changed (hub/store Reestimate); a model that differs from the last one
// costs a rescore of every fuzzy link. The helpers here keep an estimate
// from moving when a few records are added: the random pairs are chosen
// so that a new record changes few of them (hashPairs), and the model is
// rounded (RoundParams) so that what moved a little does not change the
// fingerprint.

// estimatorRevision counts changes of what an estimate makes of the same
// records; it is part of ModelDigest, so a store whose newest model an
// older estimator made estimates again. 2: the area and town levels' m is
// the share of random pairs that can reach them times the configured m
// (ownPairsM).
const estimatorRevision = 2

// ModelDigest identifies a set of person records: the same records, in any
// order, give the same digest. It hashes each record's key and canonical
// JSON, sorted by key; a record read twice counts once. The estimator's
// revision is hashed first (estimatorRevision).
func ModelDigest(recs []Record) string {
	type kv struct{ key, sum string }
	list := make([]kv, 0, len(recs))
	seen := make(map[string]bool, len(recs))
	for _, r := range recs {
		k := r.Key()
		if seen[k] {
			continue
		}
		seen[k] = true
		data, _ := json.Marshal(r.Customer)
		s := sha256.Sum256(data)
		list = append(list, kv{k, string(s[:])})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
	h := sha256.New()
	fmt.Fprintf(h, "estimator %d\x00", estimatorRevision)
	for _, x := range list {
		h.Write([]byte(x.key))
		h.Write([]byte{0})
		h.Write([]byte(x.sum))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// KeyHash orders record keys pseudo-randomly but the same way every time:
// the automatic estimation samples the records of the smallest hashes, so
// its sample is a function of the record set, not of the arrival order,
// and a new record changes it by at most one.
func KeyHash(key string) uint64 {
	s := sha256.Sum256([]byte(key))
	return binary.BigEndian.Uint64(s[:8])
}

// hashPairs are about want pairs of distinct indexes into people (sorted by
// key), each record with its k next records in the order of KeyHash, k =
// want/n: a pseudo-random set of pairs in which a new record changes about
// 2k pairs of n*k. Drawn with a random generator instead, every index
// after the new record's shifts and every pair changes, and with it the
// rare levels' u by their sampling noise (a few pairs in 200,000).
func hashPairs(people []Record, want int) [][2]int {
	n := len(people)
	if n < 2 {
		return nil
	}
	order := make([]int, n)
	hashes := make([]uint64, n)
	for i := range order {
		order[i] = i
		hashes[i] = KeyHash(people[i].Key())
	}
	sort.Slice(order, func(a, b int) bool {
		ha, hb := hashes[order[a]], hashes[order[b]]
		return ha < hb || ha == hb && order[a] < order[b]
	})
	k := max(want/n, 1)
	if k > (n-1)/2 {
		// Every pair: the neighbours would wrap round onto each other.
		out := make([][2]int, 0, n*(n-1)/2)
		for a := 0; a < n; a++ {
			for b := a + 1; b < n; b++ {
				out = append(out, [2]int{a, b})
			}
		}
		return out
	}
	out := make([][2]int, 0, n*k)
	for p := range order {
		for d := 1; d <= k; d++ {
			a, b := order[p], order[(p+d)%n]
			out = append(out, [2]int{min(a, b), max(a, b)})
		}
	}
	return out
}

// RoundParams rounds an estimated model in place so that an estimate from
// a few more records rarely differs: m, u and the prior to two significant
// digits (a weight moves by 0.07 bits at most), term frequencies to a grid
// of half bits (their weight moves by 0.25 bits at most; a name's
// frequency moves with every record that has it, so a finer grid changed
// the fingerprint on nearly every estimate).
func RoundParams(p *Params) {
	p.Prior = roundSig(p.Prior, 2)
	for _, lv := range p.Levels {
		for name, mu := range lv {
			// Rounding never reaches 0: a probability stays above it.
			lv[name] = MU{M: roundSig(mu.M, 2), U: roundSig(mu.U, 2)}
		}
	}
	if p.TwinShare != nil {
		t := roundSig(*p.TwinShare, 2)
		p.TwinShare = &t
	}
	for level, t := range p.TwinShares {
		p.TwinShares[level] = roundSig(t, 2)
	}
	for _, tf := range p.TF {
		for name, f := range tf {
			tf[name] = math.Exp2(math.Round(2*math.Log2(f)) / 2)
		}
	}
}

// roundSig rounds x > 0 to digits significant digits.
func roundSig(x float64, digits int) float64 {
	if x <= 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	scale := math.Pow(10, float64(digits)-math.Ceil(math.Log10(x)))
	r := math.Round(x*scale) / scale
	if r > 1 && x <= 1 {
		return 1
	}
	return r
}

// AutoPairsPerRecord is how many random pairs per person record an
// automatic estimate draws for u, at least (EstimateOptions.PairsPerRecord;
// the first 200,000 pairs cover a store of 4,000 person records). A level
// no random pair reached gets u = 0.5/N of the N pairs that have the
// comparison (Estimate), so the most weight such a level can carry grows
// as log2(N); the prior, matches among all n(n-1)/2 pairs, falls as 1/n in
// a store whose people have a copy or two each. With N fixed the evidence
// a rare agreement (an e-mail one typo apart) can give loses a bit against
// the prior each time the store doubles, and pairs that merged at 2,000
// people split at 20,000 (the demo: 34 pairs, F1 0.9963 -> 0.9957); with
// N proportional to n the two move together and the posterior of such a
// pair stays where it was.
const AutoPairsPerRecord = 50

// AutoSource is the Source of every automatic model: a constant, because
// the fingerprint includes it, and a count in it would change the
// fingerprint with every record. The store's table has version, time and
// record count.
const AutoSource = "estimated from the store's person records"

// autoSeed fixes the random generator of an automatic estimate; with
// HashPairs it draws no pairs, but it keeps the estimate a function of the
// records alone.
const autoSeed = 1

// AutoEstimate is the estimate a hub makes of its own person records
// (identity.fuzzy.people.estimate: auto, hub/store Reestimate), and what
// crmhub bench quality scores by default: m from base (the configured
// model), and from the records u (random pairs by key hash, at least
// AutoPairsPerRecord per record), the prior, the name frequencies and the
// twin share, rounded (RoundParams) so that a few more records rarely
// change the fingerprint.
//
// Why m is not estimated: EM learns m from the blocked pairs it takes for
// matches, and on data whose duplicates nearly all share an address and an
// e-mail (the demo's systems) it learnt that one person's records never
// have an e-mail one typo apart (m 0) or another address (m 0.001); pairs
// the data sets apart by a typo or a move then split (F1 0.998 -> 0.966 at
// 2,000 people). Shrunk towards the configured m, half the store's m still
// cost recall at 20,000 people (F1 0.9952 against the defaults' 0.9963),
// and on FEBRL, where the estimate gains over the defaults, the gain is
// u, the prior and the name frequencies: with m fixed its figures did not
// move. What a level means among matches (how often one person's e-mail
// is mistyped) is known of person data in general and hard to learn
// without labels; how often strangers agree on it, how many pairs match
// and how common a name is are facts of each store, and those are
// estimated.
func (r *Resolver) AutoEstimate(people []Record, base *Params) (*Params, EstimateStats, error) {
	p, st, err := r.Estimate(people, base, EstimateOptions{Seed: autoSeed, HashPairs: true, FixedM: true,
		PairsPerRecord: AutoPairsPerRecord})
	if err != nil {
		return nil, st, err
	}
	RoundParams(p)
	p.Source = AutoSource
	return p, st, nil
}
