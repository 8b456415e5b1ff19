package identity

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/crmhub/crmhub/hub"
)

// This file is resolution over a store: which stored records to look at
// (the component), clustering them, survivorship, what becomes of the
// golden ids no cluster carries, and the fuzzy links of written records.
// The store only loads and persists what these functions ask for, through
// ResolveStore and LinkStore, inside its own transaction.

// State is what a store knows of a customer record without parsing it.
type State struct {
	Golden  string   // the golden customer it belongs to now; "" if none
	Deleted bool     // a deleted record belongs to no golden customer
	Keys    []string // its match keys (MatchKeys); none when deleted
	// Version is the store's version of the record (an event id),
	// handed back to ResolveStore.Load: resolution never reads it.
	Version string
}

// Member is a record a golden customer holds, with its state.
type Member struct {
	Key string
	State
}

// Golden is a cluster with the golden customer survivorship made of it.
type Golden struct {
	Cluster
	Customer hub.Customer
	Lineage  Lineage
}

// Retirement is what becomes of a golden id no cluster carries any more:
// merged into Survivor (the cluster holding its smallest former live
// member), or retired when Survivor is "" (no live member is left).
type Retirement struct {
	ID, Survivor string
}

// ResolveStore is what Recluster asks of a store. Its reads include the
// writes of the transaction it runs in (a batch's records not yet in the
// table): resolution sees the records as they will be.
type ResolveStore interface {
	// States returns the states of those of rkeys that are customer
	// records; other keys are left out.
	States(ctx context.Context, rkeys []string) (map[string]State, error)
	// Members returns the customer records the golden customers hold
	// now, in a stable order.
	Members(ctx context.Context, goldens []string) ([]Member, error)
	// Joined returns the records a force-merge rule or an automatic
	// fuzzy link joins to any of rkeys (repeats allowed).
	Joined(ctx context.Context, rkeys []string) ([]string, error)
	// Holders returns the records holding any of the match keys
	// (repeats allowed).
	Holders(ctx context.Context, keys []string) ([]string, error)
	// Load returns the live ones of the records, parsed.
	Load(ctx context.Context, states map[string]State) (map[string]Record, error)
	// Rules returns the steward rules touching any of rkeys.
	Rules(ctx context.Context, rkeys []string) ([]Rule, error)
	// Links returns the fuzzy links touching any of rkeys.
	Links(ctx context.Context, rkeys []string) ([]Link, error)
	// WriteReviews replaces the review candidates touching rkeys.
	WriteReviews(ctx context.Context, rkeys []string, reviews []Candidate) error
	// WriteGoldens stores the golden customers and points their records
	// at them; prev is each record's golden id before.
	WriteGoldens(ctx context.Context, goldens []Golden, prev map[string]string) error
	// Retire merges or retires golden ids that no cluster carries.
	Retire(ctx context.Context, gone []Retirement) error
	// Assign finishes the records resolution started from: each live
	// one belongs to its golden id in clusterOf, a deleted one to none.
	Assign(ctx context.Context, clusterOf map[string]string) error
}

// LinkStore is what Relink asks of a store.
type LinkStore interface {
	// BlockMembers returns up to limit record keys holding each key.
	BlockMembers(ctx context.Context, keys []string, limit int) (map[string][]string, error)
	// Live returns the live customer records among rkeys, parsed.
	Live(ctx context.Context, rkeys []string) (map[string]Record, error)
	// ReplaceLinks replaces every fuzzy link touching rkeys with links.
	ReplaceLinks(ctx context.Context, rkeys []string, links []Link) error
}

// Reclustered says what Recluster did beyond its writes.
type Reclustered struct {
	// Capped is set when the component reached maxComponent records:
	// some shared keys were not followed.
	Capped bool
}

// Recluster re-clusters everything connected to the records and golden
// ids given (the records a batch touched, the goldens they belonged to)
// and has st write what results: the review candidates, the golden
// customers as survivorship makes them, and which old golden ids merge or
// retire. The
// component follows shared match keys (blocking keys are compared through
// the fuzzy links, never followed), force-merge rules, automatic fuzzy
// links and shared golden ids, up to maxComponent records.
func (r *Resolver) Recluster(ctx context.Context, st ResolveStore, records, goldens []string, maxComponent int) (Reclustered, error) {
	var out Reclustered
	if len(records) == 0 {
		return out, nil
	}
	comp, states, oldGoldens, capped, err := component(ctx, st, records, goldens, maxComponent)
	if err != nil {
		return out, err
	}
	out.Capped = capped
	loadedRecs, err := st.Load(ctx, states)
	if err != nil {
		return out, err
	}
	keys := slices.Sorted(maps.Keys(comp))
	recs := make([]Record, 0, len(loadedRecs))
	prev := make(map[string]string, len(loadedRecs))
	for _, k := range keys {
		if rec, ok := loadedRecs[k]; ok {
			recs = append(recs, rec)
			prev[k] = states[k].Golden
		}
	}
	rules, err := st.Rules(ctx, keys)
	if err != nil {
		return out, err
	}
	links := []Link{}
	if r.MaxBlock() > 0 {
		if links, err = st.Links(ctx, keys); err != nil {
			return out, err
		}
	}
	result := r.ResolveLinks(recs, rules, links)
	if err := st.WriteReviews(ctx, keys, result.Reviews); err != nil {
		return out, err
	}
	clusterOf := map[string]string{}
	newIDs := map[string]bool{}
	gs := make([]Golden, len(result.Clusters))
	for i, c := range result.Clusters {
		newIDs[c.ID] = true
		for _, rec := range c.Records {
			clusterOf[rec.Key()] = c.ID
		}
		cust, lin := r.Survive(c.Records)
		gs[i] = Golden{Cluster: c, Customer: cust, Lineage: lin}
	}
	if err := st.WriteGoldens(ctx, gs, prev); err != nil {
		return out, err
	}
	if err := st.Retire(ctx, retirements(slices.Sorted(maps.Keys(oldGoldens)), recs, prev, newIDs, clusterOf)); err != nil {
		return out, err
	}
	return out, st.Assign(ctx, clusterOf)
}

// retirements decides what becomes of the old golden ids no cluster
// carries any more: merged into the cluster that holds their smallest
// former live member, or retired if none is left. recs are sorted by key.
func retirements(old []string, recs []Record, prev map[string]string, newIDs map[string]bool, clusterOf map[string]string) []Retirement {
	var out []Retirement
	former := map[string]string{} // old golden -> smallest former live member
	for _, rec := range recs {
		k := rec.Key()
		if g := prev[k]; g != "" {
			if _, ok := former[g]; !ok {
				former[g] = k
			}
		}
	}
	for _, g := range old {
		if newIDs[g] {
			continue
		}
		gone := Retirement{ID: g}
		if f, ok := former[g]; ok {
			gone.Survivor = clusterOf[f]
		}
		out = append(out, gone)
	}
	return out
}

// component finds every customer record connected to the seeds through
// shared match keys, rules, automatic links or a shared current golden
// customer, with the states of those it found and the golden ids seen on
// the way.
func component(ctx context.Context, st ResolveStore, seedR, seedG []string, limit int) (inComp map[string]bool, states map[string]State, goldens map[string]bool, capped bool, err error) {
	states, goldens, inComp = map[string]State{}, map[string]bool{}, map[string]bool{}
	keys := map[string]bool{}
	frontR := map[string]bool{}
	for _, r := range seedR {
		inComp[r], frontR[r] = true, true
	}
	frontG := map[string]bool{}
	for _, g := range seedG {
		goldens[g], frontG[g] = true, true
	}
	for len(frontR)+len(frontG) > 0 {
		nextR := map[string]bool{}
		addR := func(r string) {
			if !inComp[r] && len(inComp) < limit {
				inComp[r], nextR[r] = true, true
			}
		}
		members, err := st.Members(ctx, slices.Sorted(maps.Keys(frontG)))
		if err != nil {
			return nil, nil, nil, false, fmt.Errorf("golden members: %w", err)
		}
		for _, m := range members {
			addR(m.Key)
			if inComp[m.Key] {
				states[m.Key] = m.State
			}
		}
		frontG = map[string]bool{}
		// The states of the frontier records not read above.
		var unread []string
		for r := range frontR {
			if _, ok := states[r]; !ok {
				unread = append(unread, r)
			}
		}
		sort.Strings(unread)
		read, err := st.States(ctx, unread)
		if err != nil {
			return nil, nil, nil, false, fmt.Errorf("record goldens: %w", err)
		}
		for r, s := range read {
			states[r] = s
		}
		fr := slices.Sorted(maps.Keys(frontR))
		newK := map[string]bool{}
		for _, r := range fr {
			s, ok := states[r]
			if !ok {
				continue
			}
			if g := s.Golden; g != "" && !goldens[g] {
				goldens[g], frontG[g] = true, true
			}
			if s.Deleted {
				continue
			}
			for _, k := range s.Keys {
				if IsBlockKey(k) {
					continue // compared through the fuzzy links, never followed
				}
				if !keys[k] {
					keys[k], newK[k] = true, true
				}
			}
		}
		joined, err := st.Joined(ctx, fr)
		if err != nil {
			return nil, nil, nil, false, fmt.Errorf("rules: %w", err)
		}
		for _, r := range joined {
			addR(r)
		}
		holders, err := st.Holders(ctx, slices.Sorted(maps.Keys(newK)))
		if err != nil {
			return nil, nil, nil, false, fmt.Errorf("key records: %w", err)
		}
		for _, r := range holders {
			addR(r)
		}
		capped = capped || len(inComp) >= limit
		frontR = nextR
	}
	return inComp, states, goldens, capped, nil
}

// Relink recomputes the fuzzy links of the records just written (rkeys,
// with their match keys in keysOf): each is scored against the records
// sharing one of its blocking keys. A block of more than MaxBlock records
// is skipped, and counted per blocking rule in skipped: never silent, it
// is a pair the scorer did not see. A link depends on both records and is
// rewritten whenever either changes, so the links are a function of the
// records, whatever their arrival order.
func (r *Resolver) Relink(ctx context.Context, st LinkStore, rkeys []string, keysOf map[string][]string) (skipped map[string]int, err error) {
	return r.relink(ctx, st, rkeys, keysOf, false)
}

// OwnLinkStore is the storage of RelinkOwn.
type OwnLinkStore interface {
	LinkStore
	// ReplaceOwnLinks replaces every fuzzy link whose smaller key (A)
	// is among rkeys with links.
	ReplaceOwnLinks(ctx context.Context, rkeys []string, links []Link) error
}

// RelinkOwn is Relink for a pass over every stored record: it scores
// only the pairs whose smaller key is among rkeys and replaces only the
// links whose A is, so that each pair is scored once in the pass, not
// once from each end (a rescore's links pass spent most of its time
// scoring and loading records).
func (r *Resolver) RelinkOwn(ctx context.Context, st OwnLinkStore, rkeys []string, keysOf map[string][]string) (skipped map[string]int, err error) {
	return r.relink(ctx, st, rkeys, keysOf, true)
}

func (r *Resolver) relink(ctx context.Context, st LinkStore, rkeys []string, keysOf map[string][]string, own bool) (skipped map[string]int, err error) {
	replace := st.ReplaceLinks
	if own {
		replace = st.(OwnLinkStore).ReplaceOwnLinks
	}
	limit := r.MaxBlock()
	if limit == 0 || len(rkeys) == 0 {
		return nil, nil
	}
	// The blocking keys of the written records, and the members of those
	// blocks, at most limit+1 each: a larger block is skipped anyway, and
	// reading all of a common name's members cost a batch time in
	// proportion to the store's size.
	blocksOf := map[string][]string{}
	blockKeys := map[string]bool{}
	for _, rk := range rkeys {
		for _, k := range keysOf[rk] {
			if IsBlockKey(k) {
				blocksOf[rk] = append(blocksOf[rk], k)
				blockKeys[k] = true
			}
		}
	}
	members, err := st.BlockMembers(ctx, slices.Sorted(maps.Keys(blockKeys)), limit+1)
	if err != nil {
		return nil, err
	}
	need := map[string]bool{}
	for _, rk := range rkeys {
		for _, k := range blocksOf[rk] {
			if len(members[k]) > limit {
				if skipped == nil {
					skipped = map[string]int{}
				}
				skipped[BlockRule(k)]++
				continue
			}
			for _, m := range members[k] {
				if !own || m >= rk {
					need[m] = true
				}
			}
		}
	}
	if len(need) == 0 {
		return skipped, replace(ctx, rkeys, nil)
	}
	recs, err := st.Live(ctx, slices.Sorted(maps.Keys(need)))
	if err != nil {
		return skipped, err
	}
	seen := map[[2]string]bool{}
	var links []Link
	// A record is a member of several blocks, and each written record is
	// scored against all of its blocks' members: prepared once each.
	prepared := map[string]*person{}
	prepare := func(k string, rec Record) *person {
		p, ok := prepared[k]
		if !ok {
			p = r.prepare(rec)
			prepared[k] = p
		}
		return p
	}
	for _, rk := range rkeys {
		a, ok := recs[rk]
		if !ok {
			continue
		}
		for _, k := range blocksOf[rk] {
			if len(members[k]) > limit {
				continue
			}
			for _, m := range members[k] {
				b, ok := recs[m]
				if !ok || m == rk || own && m < rk {
					continue
				}
				l, ok := r.scorePrepared(a, b, prepare(rk, a), prepare(m, b))
				if !ok || seen[[2]string{l.A, l.B}] {
					continue
				}
				seen[[2]string{l.A, l.B}] = true
				links = append(links, l)
			}
		}
	}
	return skipped, replace(ctx, rkeys, links)
}

// IsBlockKey says whether a match key is a blocking key ("kind|block:..."):
// the records sharing one are scored against each other, never joined by it.
func IsBlockKey(k string) bool { return keyClass(k) == ClassBlock }

// IsContactKey says whether a match key is an e-mail or phone key, one the
// person model may weigh (see ResolveLinks) rather than join by.
func IsContactKey(k string) bool {
	c := keyClass(k)
	return c == ClassEmail || c == ClassPhone
}

// ContactVerdictChanged reports whether r and old say something different
// of two records sharing an e-mail or phone key: whether they join, go to
// review, stay apart, or the score a review shows. A store that changed
// its model re-clusters only the records where this or a fuzzy link
// changed (see hub/store Rescore): elsewhere ResolveLinks gives what it
// gave.
func (r *Resolver) ContactVerdictChanged(old *Resolver, a, b Record) bool {
	kind := a.Customer.Kind
	if kind != b.Customer.Kind {
		return false
	}
	if r.weighsContact(ClassEmail, kind) != old.weighsContact(ClassEmail, kind) {
		return true
	}
	if !r.weighsContact(ClassEmail, kind) || !hasPersonalAttributes(a.Customer) || !hasPersonalAttributes(b.Customer) {
		return false // joined or not by the key alone, whatever the model
	}
	ln, okN := r.ScorePair(a, b)
	lo, okO := old.ScorePair(a, b)
	return okN != okO || ln.Auto != lo.Auto || ln.Score != lo.Score
}
