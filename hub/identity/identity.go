package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/crmhub/hub"
)

// Config sets how records are matched and how the golden record survives.
type Config struct {
	// DefaultRegion (ISO 3166-1 alpha-2) reads phone numbers written
	// without a country code. Default "DE".
	DefaultRegion string
	// FieldPriority lists, per golden field (JSON name, e.g. "credit_limit"),
	// the source systems in order of trust. A system earlier in the list
	// wins whenever it has a non-empty value; systems not listed fall back
	// to the default rule, most recent non-empty.
	FieldPriority map[string][]string
	// FieldRule sets, per golden field, the rule among the records that
	// priority does not decide: "most_recent" (default), "most_complete"
	// (the longest value) or "earliest" (the oldest record's value, e.g.
	// the first source that knew the customer).
	FieldRule map[string]string
	// Fuzzy, when set, adds blocking keys and fuzzy scoring; nil matches
	// on deterministic keys only.
	Fuzzy *FuzzyConfig
	// TaxIDVeto says whose differing tax ids keep records apart whatever
	// else they share: "organizations" (default), "all" or "none". Where a
	// tax id does not veto, a person's tax id is an identifier: evidence
	// for or against in the fuzzy score (see IDWeights).
	TaxIDVeto string
}

// Record is one source customer record as the resolver sees it.
type Record struct {
	System       string
	SourceEntity string
	SourceID     string
	UpdatedAt    time.Time
	Customer     hub.Customer
}

// Key is the record's identity in the hub: system/entity/id.
func (r Record) Key() string { return RecordKey(r.System, r.SourceEntity, r.SourceID) }

// RecordKey is the identity of a source record: system/entity/id.
func RecordKey(system, entity, id string) string { return system + "/" + entity + "/" + id }

// Match key classes, strongest first. Clustering processes keys in this
// order, so a cross reference decides before a shared phone number does.
const (
	ClassRef   = "ref"
	ClassTax   = "tax"
	ClassEmail = "email"
	ClassPhone = "phone"
)

var classRank = map[string]int{ClassRef: 0, ClassTax: 1, ClassEmail: 2, ClassPhone: 3, ClassBlock: 4}

// Resolver matches records and builds golden records. It holds no state
// besides its configuration and is safe for concurrent use.
type Resolver struct {
	cfg Config
}

// New returns a Resolver for cfg.
func New(cfg Config) *Resolver {
	if cfg.DefaultRegion == "" {
		cfg.DefaultRegion = "DE"
	}
	if cfg.TaxIDVeto == "" {
		cfg.TaxIDVeto = VetoOrganizations
	}
	if cfg.Fuzzy != nil {
		f := *cfg.Fuzzy
		f.defaults()
		cfg.Fuzzy = &f
	}
	return &Resolver{cfg: cfg}
}

// Config returns the resolver's configuration with defaults applied.
func (r *Resolver) Config() Config { return r.cfg }

// MatchKeys returns the record's match keys, sorted and de-duplicated. Each
// key is scoped by kind ("person|email:a@b.de"), so a person and an
// organization never share a key. Every record owns the key of its own
// source id (ref:<system>:<source_id>), which an external id in another
// system's record points at.
func (r *Resolver) MatchKeys(rec Record) []string {
	c := rec.Customer
	kind := c.Kind
	if kind == "" {
		kind = "person"
	}
	var keys []string
	add := func(class, v string) {
		if v != "" {
			keys = append(keys, kind+"|"+class+":"+v)
		}
	}
	add(ClassRef, rec.System+":"+rec.SourceID)
	for _, x := range c.ExternalIDs {
		if x.System != "" && x.ID != "" {
			add(ClassRef, x.System+":"+x.ID)
		}
	}
	add(ClassTax, NormalizeTaxID(c.TaxID))
	for _, e := range c.Emails {
		add(ClassEmail, NormalizeEmail(e))
	}
	for _, p := range c.Phones {
		if n, err := NormalizePhone(p, r.cfg.DefaultRegion); err == nil {
			add(ClassPhone, n)
		}
	}
	if r.cfg.Fuzzy != nil {
		for _, b := range blockKeys(c, r.cfg.DefaultRegion, r.taxIsEvidence(kind)) {
			add(ClassBlock, b)
		}
	}
	sort.Strings(keys)
	return slices.Compact(keys)
}

// taxVetoes reports whether differing tax ids keep two records of kind
// apart.
func (r *Resolver) taxVetoes(kind string) bool {
	switch r.cfg.TaxIDVeto {
	case VetoAll:
		return true
	case VetoNone:
		return false
	}
	return kind == "organization"
}

// taxIsEvidence reports whether a person's tax id is compared as an
// identifier: where it does not veto.
func (r *Resolver) taxIsEvidence(kind string) bool {
	return kind != "organization" && !r.taxVetoes(kind)
}

// keyClass returns the class of a match key ("person|email:x" -> "email").
func keyClass(k string) string {
	_, rest, _ := strings.Cut(k, "|")
	class, _, _ := strings.Cut(rest, ":")
	return class
}

// GoldenID derives a golden id from the smallest record key of a cluster:
// the same cluster always gets the same id, whatever order its records
// arrived in.
func GoldenID(minRecordKey string) string {
	h := sha256.Sum256([]byte(minRecordKey))
	return "g_" + hex.EncodeToString(h[:10])
}

// Cluster is one resolved real customer.
type Cluster struct {
	ID      string   // golden id, from the smallest record key
	Records []Record // sorted by Key
}

// Steward rules: they override matching and survive re-processing.
const (
	RuleForceMerge = "force_merge" // A and B are the same customer
	RuleNeverMerge = "never_merge" // A and B are never in one cluster
)

// Rule is a steward's decision about two source records (record keys).
type Rule struct {
	Kind string
	A, B string
}

// Candidate is a pair of records the fuzzy scorer found similar but not
// similar enough to merge: the review queue. A < B.
type Candidate struct {
	A, B  string
	Score float64
}

// Result is the outcome of resolving a set of records.
type Result struct {
	Clusters []Cluster   // sorted by ID
	Reviews  []Candidate // sorted by A, B
}

// Cluster groups records into real customers; see Resolve.
func (r *Resolver) Cluster(recs []Record) []Cluster { return r.Resolve(recs, nil).Clusters }

// Resolve groups records into real customers. The result depends only on
// the set of records and rules, never on their order:
//
//  1. force-merge rules join their records first;
//  2. deterministic keys are visited in a fixed order (class strength,
//     then key) and join the records holding them;
//  3. with fuzzy matching on, record pairs sharing a blocking key are
//     scored (Links), and pairs above the auto-merge threshold join, best
//     first; pairs between the thresholds that stay apart become review
//     candidates.
//
// A join is refused when it would put different kinds, different non-empty
// tax ids (except by force), or a never-merge pair into one cluster; a
// fuzzy join also when both sides have addresses and share no postal code
// (the pair then goes to review).
func (r *Resolver) Resolve(recs []Record, rules []Rule) Result {
	return r.ResolveLinks(recs, rules, nil)
}

// ResolveLinks is Resolve with the fuzzy links given, as a store keeps
// them (see Links and ScorePair); nil computes them from the records. A
// review link from one of recs to a record not among them is a review
// candidate too (unless a never-merge rule keeps the pair apart): recs
// are what is connected, and a review link connects nothing.
func (r *Resolver) ResolveLinks(recs []Record, rules []Rule, links []Link) Result {
	recs = slices.Clone(recs)
	sort.Slice(recs, func(i, j int) bool { return recs[i].Key() < recs[j].Key() })
	recs = slices.CompactFunc(recs, func(a, b Record) bool { return a.Key() == b.Key() })

	n := len(recs)
	index := make(map[string]int, n)
	parent := make([]int, n)
	kind := make([]string, n)
	taxes := make([]map[string]bool, n)
	postals := make([]map[string]bool, n)
	members := make([][]int, n)
	byKey := map[string][]int{}
	for i, rec := range recs {
		index[rec.Key()] = i
		parent[i] = i
		kind[i] = rec.Customer.Kind
		members[i] = []int{i}
		taxes[i] = map[string]bool{}
		if t := NormalizeTaxID(rec.Customer.TaxID); t != "" {
			taxes[i][t] = true
		}
		postals[i] = map[string]bool{}
		for _, a := range matchAddresses(rec.Customer) {
			if p := normPostal(a.PostalCode); p != "" {
				postals[i][p] = true
			}
		}
		for _, k := range r.MatchKeys(rec) {
			byKey[k] = append(byKey[k], i)
		}
	}
	never := map[int][]int{}
	// apart holds the pairs sharing an e-mail address or phone number that
	// the person model scores below review (see contactVerdicts): no
	// later join, by a key or a fuzzy link through a third record, puts
	// them together. unsure holds those it sends to review: other records
	// may still show them one person (two copies corrupted differently,
	// each joined to the original), but a record with nothing to weigh
	// (an e-mail alone) does not bridge them.
	apart, unsure := map[int][]int{}, map[int][]int{}
	var force [][2]int
	for _, ru := range rules {
		a, okA := index[ru.A]
		b, okB := index[ru.B]
		if !okA || !okB || a == b {
			continue
		}
		switch ru.Kind {
		case RuleNeverMerge:
			never[a] = append(never[a], b)
			never[b] = append(never[b], a)
		case RuleForceMerge:
			force = append(force, [2]int{min(a, b), max(a, b)})
		}
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	// union joins the clusters of a and b unless a rule or a veto keeps
	// them apart. how says what joins them: a steward's force-merge, a
	// ref or tax key, evidence the model weighed (a shared e-mail or
	// phone, a fuzzy link), which the pairs in apart refuse, or a shared
	// e-mail or phone with nothing to weigh, which those in unsure refuse
	// too.
	union := func(a, b int, how joinBy) bool {
		forced := how == joinForced
		ra, rb := find(a), find(b)
		if ra == rb {
			return true
		}
		if kind[ra] != kind[rb] {
			return false
		}
		if !forced && r.taxVetoes(kind[ra]) && len(taxes[ra]) > 0 && len(taxes[rb]) > 0 && !intersects(taxes[ra], taxes[rb]) &&
			!typoApart(taxes[ra], taxes[rb]) {
			return false
		}
		for _, x := range members[ra] {
			for _, y := range never[x] {
				if find(y) == rb {
					return false
				}
			}
			if how < joinWeighed {
				continue
			}
			for _, y := range apart[x] {
				if find(y) == rb {
					return false
				}
			}
			if how < joinUnweighed {
				continue
			}
			for _, y := range unsure[x] {
				if find(y) == rb {
					return false
				}
			}
		}
		// The smaller index (smaller key) stays the root.
		if rb < ra {
			ra, rb = rb, ra
		}
		parent[rb] = ra
		members[ra] = append(members[ra], members[rb]...)
		members[rb] = nil
		for t := range taxes[rb] {
			taxes[ra][t] = true
		}
		for p := range postals[rb] {
			postals[ra][p] = true
		}
		return true
	}
	// A fuzzy link joins a record without an address to one with, or
	// records at one address; it never joins two customers who each have
	// addresses and share no postal code: the link is then more likely a
	// namesake's mistyped-looking e-mail than the same person twice.
	postalApart := func(a, b int) bool {
		ra, rb := find(a), find(b)
		return ra != rb && len(postals[ra]) > 0 && len(postals[rb]) > 0 && !intersects(postals[ra], postals[rb])
	}

	sort.Slice(force, func(i, j int) bool {
		return force[i][0] < force[j][0] || force[i][0] == force[j][0] && force[i][1] < force[j][1]
	})
	for _, p := range force {
		union(p[0], p[1], joinForced)
	}

	keys := make([]string, 0, len(byKey))
	for k, idx := range byKey {
		if len(idx) > 1 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		ci, cj := classRank[keyClass(keys[i])], classRank[keyClass(keys[j])]
		if ci != cj {
			return ci < cj
		}
		return keys[i] < keys[j]
	})
	contacts := r.contactVerdicts(recs, keys, byKey)
	for _, p := range contacts {
		switch {
		case p.review:
			unsure[p.a] = append(unsure[p.a], p.b)
			unsure[p.b] = append(unsure[p.b], p.a)
		case !p.join:
			apart[p.a] = append(apart[p.a], p.b)
			apart[p.b] = append(apart[p.b], p.a)
		}
	}
	// Keys are ordered ref, tax, e-mail, phone, so the keys that join
	// outright (ref and tax; every key of a kind the model does not weigh)
	// come before the weighed ones of the same kind, as they would in one
	// pass over the keys.
	for _, k := range keys {
		class := keyClass(k)
		idx := byKey[k]
		if class == ClassBlock || r.weighsContact(class, recs[idx[0]].Customer.Kind) {
			continue
		}
		for _, j := range idx[1:] {
			union(idx[0], j, joinKey)
		}
	}
	for _, p := range contacts {
		if p.join && !p.unweighed {
			union(p.a, p.b, joinWeighed)
		}
	}
	// Joins with nothing to weigh come after the weighed ones, so that
	// whether such a record bridges two people that the model doubts
	// does not depend on which key came first.
	for _, p := range contacts {
		if p.unweighed {
			union(p.a, p.b, joinUnweighed)
		}
	}

	var res Result
	if f := r.cfg.Fuzzy; f != nil {
		if links == nil {
			links = r.Links(recs)
		}
		links = slices.Clone(links)
		sort.Slice(links, func(i, j int) bool {
			x, y := links[i], links[j]
			if x.Score != y.Score {
				return x.Score > y.Score
			}
			return x.A < y.A || x.A == y.A && x.B < y.B
		})
		held := map[[2]string]bool{} // auto links kept apart by their addresses: reviewed instead
		for _, l := range links {
			a, okA := index[l.A]
			b, okB := index[l.B]
			if !okA || !okB || !l.Auto {
				continue
			}
			// A probabilistic link whose two records have addresses has
			// weighed them (a move is evidence, not a veto); one without
			// an address has not seen the addresses of the clusters it
			// would join.
			weighed := f.probabilistic(kind[a]) && len(recs[a].Customer.Addresses) > 0 && len(recs[b].Customer.Addresses) > 0
			if postalApart(a, b) && !weighed {
				held[[2]string{l.A, l.B}] = true
				continue
			}
			union(a, b, joinWeighed)
		}
		neverKeys := map[[2]string]bool{}
		for _, ru := range rules {
			if ru.Kind == RuleNeverMerge {
				neverKeys[[2]string{ru.A, ru.B}], neverKeys[[2]string{ru.B, ru.A}] = true, true
			}
		}
		for _, l := range links {
			a, okA := index[l.A]
			b, okB := index[l.B]
			switch {
			case okA && okB:
				if (!l.Auto || held[[2]string{l.A, l.B}]) && find(a) != find(b) && !slices.Contains(never[a], b) {
					res.Reviews = append(res.Reviews, Candidate{A: l.A, B: l.B, Score: l.Score})
				}
			case okA != okB && !l.Auto && !neverKeys[[2]string{l.A, l.B}]:
				// The other record is not among recs: a store re-clusters
				// what is connected, and a review link connects nothing,
				// so that record is in another customer. The pair is
				// still a candidate; leaving it out lost it from the
				// queue whenever one side was re-resolved alone.
				res.Reviews = append(res.Reviews, Candidate{A: l.A, B: l.B, Score: l.Score})
			}
		}
		for _, p := range contacts {
			if p.review && find(p.a) != find(p.b) && !slices.Contains(never[p.a], p.b) {
				res.Reviews = append(res.Reviews, Candidate{A: recs[p.a].Key(), B: recs[p.b].Key(), Score: p.score})
			}
		}
		sort.Slice(res.Reviews, func(i, j int) bool {
			x, y := res.Reviews[i], res.Reviews[j]
			return x.A < y.A || x.A == y.A && x.B < y.B
		})
		// A pair both linked and sharing a key is one candidate.
		res.Reviews = slices.CompactFunc(res.Reviews, func(x, y Candidate) bool { return x.A == y.A && x.B == y.B })
	}

	groups := map[int][]Record{}
	for i := range recs {
		root := find(i)
		groups[root] = append(groups[root], recs[i])
	}
	res.Clusters = make([]Cluster, 0, len(groups))
	for root, g := range groups {
		res.Clusters = append(res.Clusters, Cluster{ID: GoldenID(recs[root].Key()), Records: g})
	}
	sort.Slice(res.Clusters, func(i, j int) bool { return res.Clusters[i].ID < res.Clusters[j].ID })
	return res
}

// contactVerdict is what the person model says of two records sharing an
// e-mail address or phone number.
type contactVerdict struct {
	join      bool    // one person, or nothing speaks against it
	unweighed bool    // joined as one record has no name and no birth date
	review    bool    // kept apart, a review candidate
	score     float64 // the pair's match probability, for review
}

// joinBy says what joins two clusters; each refuses more than the one
// before it (see ResolveLinks' union).
type joinBy int

const (
	joinForced    joinBy = iota // a steward's force-merge rule
	joinKey                     // a ref or tax key
	joinWeighed                 // a weighed e-mail or phone key, a fuzzy link
	joinUnweighed               // an e-mail or phone key with nothing to weigh
)

// weighsContact reports whether a shared key of class between records of
// kind is weighed by the person model rather than joining outright:
// e-mail addresses and phone numbers of persons under the Fellegi-Sunter
// model. Spouses share a mailbox, a household its landline, a company's
// employees the switchboard number; only the model, which counts the
// exact agreement as strong evidence, can tell them from one person.
func (r *Resolver) weighsContact(class, kind string) bool {
	f := r.cfg.Fuzzy
	return f != nil && f.probabilistic(kind) && (class == ClassEmail || class == ClassPhone)
}

// contactPair is the verdict on records a and b (indexes in recs, a < b).
type contactPair struct {
	a, b int
	contactVerdict
}

// contactVerdicts scores every pair of records sharing a weighed e-mail
// or phone key (see weighsContact), once, in the order of keys and then
// of the records under a key. A pair the model scores below the review threshold stays
// apart; one between the thresholds or held goes to review; one above
// auto-merge joins, as does a pair where one record has no name and no
// birth date, as nothing there speaks against it. A key held by more than
// MaxBlock records (a switchboard, a role mailbox) is not one person's:
// it joins nothing by itself, and the fuzzy links, which count the exact
// agreement, decide for the pairs that share a block. The verdicts depend
// only on the pairs, never on the order of keys or records.
func (r *Resolver) contactVerdicts(recs []Record, keys []string, byKey map[string][]int) []contactPair {
	var out []contactPair
	seen := map[[2]int]bool{}
	prepared := r.preparedSet(recs)
	for _, k := range keys {
		idx := byKey[k]
		if !r.weighsContact(keyClass(k), recs[idx[0]].Customer.Kind) || len(idx) > r.cfg.Fuzzy.MaxBlock {
			continue
		}
		for x := 0; x < len(idx); x++ {
			for y := x + 1; y < len(idx); y++ {
				p := [2]int{idx[x], idx[y]}
				if seen[p] {
					continue // an e-mail and a phone shared: scored once
				}
				seen[p] = true
				a, b := recs[p[0]], recs[p[1]]
				if !hasPersonalAttributes(a.Customer) || !hasPersonalAttributes(b.Customer) {
					out = append(out, contactPair{p[0], p[1], contactVerdict{join: true, unweighed: true}})
					continue
				}
				l, ok := r.scorePrepared(a, b, prepared(p[0]), prepared(p[1]))
				out = append(out, contactPair{p[0], p[1], contactVerdict{join: ok && l.Auto, review: ok && !l.Auto, score: l.Score}})
			}
		}
	}
	return out
}

// hasPersonalAttributes reports whether a person's record says who the
// person is (a name or a birth date), so that the model can weigh it
// against another's: a newsletter subscriber known only by an e-mail
// address has nothing that could disagree.
func hasPersonalAttributes(c hub.Customer) bool {
	return givenName(c) != "" || familyName(c) != "" || strings.TrimSpace(c.BirthDate) != ""
}

func round3(f float64) float64 { return float64(int(f*1000+0.5)) / 1000 }

func normPostal(p string) string { return NormalizePostcode(p) }

// intersects reports whether two tax-id sets share one. A cluster holds
// more than one tax id only by a steward's force-merge.
// typoApart reports whether a tax id of a and one of b are one typo
// apart: one character changed, or two neighbours swapped, at the same
// length. Such ids are the same id mistyped in one system (a VAT id
// copied by hand), not two firms: they do not veto a join that other
// evidence makes. Any other difference does.
func typoApart(a, b map[string]bool) bool {
	for x := range a {
		for y := range b {
			if len(x) == len(y) && len(x) >= 6 && oneEditApart(x, y, func(byte) bool { return true }) {
				return true
			}
		}
	}
	return false
}

func intersects(a, b map[string]bool) bool {
	for k := range a {
		if b[k] {
			return true
		}
	}
	return false
}
