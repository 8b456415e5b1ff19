package identity

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
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

// ModelDigest identifies a set of person records: the same records, in any
// order, give the same digest. It hashes each record's key and canonical
// JSON, sorted by key; a record read twice counts once.
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

// ShrinkM pulls each comparison's m towards base's as a Dirichlet prior
// worth alpha matched pairs would, the estimate counting as matches
// matched pairs: m = (matches*m + alpha*m_base) / (matches + alpha). EM
// learns m only from what the blocked pairs show, and a level the matches
// among them never reach comes out at the floor although real data has
// it: on the demo's systems, where nearly every duplicate shares an
// address and an e-mail, EM learnt m 0 for an e-mail one typo apart and
// 0.001 for another address, and the records a typo or a move set apart
// (117 pairs of 2,000 people) no longer merged. The base model's m
// (the defaults: what is known of person data in general) keeps such
// levels possible; where the store has many matches, its own figures win.
func ShrinkM(p, base *Params, matches, alpha float64) {
	if alpha <= 0 || base == nil {
		return
	}
	for c, lv := range p.Levels {
		bl := base.Levels[c]
		if bl == nil {
			continue
		}
		for name, mu := range lv {
			b, ok := bl[name]
			if !ok {
				continue
			}
			mu.M = (matches*mu.M + alpha*b.M) / (matches + alpha)
			lv[name] = mu
		}
	}
}
