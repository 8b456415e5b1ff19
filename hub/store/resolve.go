package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/store/sqldb"
)

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// recState is what the records table says of one customer record: the
// version (event id) that is current, whether it is deleted, and the
// golden customer it belongs to.
type recState struct {
	event    string
	golden   string
	deleted  bool
	customer bool
	mkeys    string // its match keys (records.mkeys)
}

// stateCols are the columns scanState reads. Queries select them by rkey
// and filter on the entity in Go: with "AND entity = 'customer'" and a
// long IN list SQLite's planner walks the (entity, ...) index, all
// customers, instead of looking up each key.
const stateCols = `rkey, event_id, COALESCE(golden_id, ''), deleted, entity, COALESCE(mkeys, '')`

func scanState(rows *sql.Rows) (string, recState, error) {
	var (
		rkey, entity string
		st           recState
		del          int
	)
	err := rows.Scan(&rkey, &st.event, &st.golden, &del, &entity, &st.mkeys)
	st.deleted, st.customer = del == 1, entity == hub.EntityCustomer
	return rkey, st, err
}

// resolution is one transaction as hub/identity sees it: it implements
// identity.ResolveStore and identity.LinkStore over the batch's
// transaction, its records not yet in the table (batch.pending) and the
// record cache. It loads and writes what resolution asks; which records
// are one customer, and what becomes of golden ids, identity decides.
type resolution struct {
	s *Store
	b *batch
}

func nanos(t time.Time) int64 { return sqldb.Nanos(t) }

func fromNanos(n int64) time.Time { return sqldb.FromNanos(n) }

// resolve re-clusters everything connected to the batch's customer records
// and rewrites the golden customers that changed.
func (s *Store) resolve(ctx context.Context, b *batch) error {
	if len(b.dirty) == 0 {
		return nil
	}
	out, err := s.res.Recluster(ctx, resolution{s: s, b: b}, sortedKeys(b.dirty), sortedKeys(b.seedsG), s.maxCmp)
	if out.Capped {
		s.log.WarnContext(ctx, "identity component reached its cap; some shared keys were not followed", "cap", s.maxCmp)
	}
	if err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	return nil
}

// relink has identity recompute the fuzzy links of the customer records
// just written (see identity.Resolver.Relink).
func (s *Store) relink(ctx context.Context, b *batch, rkeys []string, keysOf map[string][]string) error {
	return s.relinkWith(ctx, b, resolution{s: s, b: b}, rkeys, keysOf)
}

// crossingMembers returns the records of the blocks whose size this
// batch moved across max_block, in either direction, that the batch did
// not write itself, with their match keys in keysOf and marked for
// re-resolution. A fuzzy link stands for the blocks two records share now:
// links made while a block was small must go when it grows past the cap,
// and its pairs must be scored when it shrinks below it again, or whether
// two records that share only such a block are linked would depend on
// which came first (as it did before 128a4d6). A block
// crosses at most once per batch and write, and then has at most
// max_block plus the batch's entries as members to relink.
//
// left holds the other keys records left too: an e-mail or phone held by
// more than max_block records joins nothing by itself (identity's
// contactVerdicts), so when one falls back to the cap its holders must be
// resolved again; the records that left it are not connected to them any
// more, and in the other order the holders would have joined. A key that
// grows past the cap needs nothing here: resolution follows the keys of
// the records that took it to every holder.
func (s *Store) crossingMembers(ctx context.Context, b *batch, entered, left map[string]int, keysOf map[string][]string) ([]string, error) {
	limit := s.res.MaxBlock()
	if limit == 0 || len(entered)+len(left) == 0 {
		return nil, nil
	}
	keys := slices.Sorted(maps.Keys(entered))
	for k := range left {
		if _, ok := entered[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	// Read one more than a block that crossed can hold: a block at that
	// cap was over max_block before the batch as well, whatever it held.
	// Relinking reads the same blocks right after (at most max_block+1
	// members each): it takes them from b.blocks.
	capOf := func(k string) int { return limit + 1 + entered[k] }
	members, err := s.blockMembersUpTo(ctx, b.tx, keys, capOf)
	if err != nil {
		return nil, fmt.Errorf("block sizes: %w", err)
	}
	if b.blocks == nil {
		b.blocks = map[string]blockRead{}
	}
	for _, k := range keys {
		b.blocks[k] = blockRead{members: members[k], upTo: capOf(k)}
	}
	extra := map[string]bool{}
	for _, k := range keys {
		after := len(members[k])
		before := after - entered[k] + left[k]
		if (before > limit) == (after > limit) {
			continue
		}
		for _, m := range members[k] {
			if b.pending[m] == nil {
				extra[m] = true
			}
		}
	}
	if len(extra) == 0 {
		return nil, nil
	}
	var out []string
	if err := s.eachChunk(ctx, b.tx, `SELECT rkey, COALESCE(golden_id, ''), COALESCE(mkeys, '') FROM records WHERE rkey IN (%s) AND deleted = 0`, slices.Sorted(maps.Keys(extra)),
		func(rows *sql.Rows) error {
			var rkey, golden, mkeys string
			if err := rows.Scan(&rkey, &golden, &mkeys); err != nil {
				return err
			}
			ks, err := decodeList[string](mkeys)
			if err != nil {
				return fmt.Errorf("stored record %s: match keys: %w", rkey, err)
			}
			keysOf[rkey] = ks
			out = append(out, rkey)
			b.dirty[rkey] = true
			if golden != "" {
				b.seedsG[golden] = true
			}
			return nil
		}); err != nil {
		return nil, fmt.Errorf("members of blocks crossing max_block: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

// relinkOwn is relink for a pass over every record in key order
// (identity.Resolver.RelinkOwn), writing through st.
func (s *Store) relinkOwn(ctx context.Context, b *batch, st identity.OwnLinkStore, rkeys []string, keysOf map[string][]string) error {
	skipped, err := s.res.get().RelinkOwn(ctx, st, rkeys, keysOf)
	s.countSkipped(b, skipped)
	return err
}

// relinkWith is relink writing through st.
func (s *Store) relinkWith(ctx context.Context, b *batch, st identity.LinkStore, rkeys []string, keysOf map[string][]string) error {
	skipped, err := s.res.Relink(ctx, st, rkeys, keysOf)
	s.countSkipped(b, skipped)
	return err
}

func (s *Store) countSkipped(b *batch, skipped map[string]int) {
	for rule, n := range skipped {
		// Never silent: crmhub_identity_blocks_skipped_total.
		if b.blocksSkipped == nil {
			b.blocksSkipped = map[string]int{}
		}
		b.blocksSkipped[rule] += n
	}
}

// state is what identity sees of a record's state. The batch's own
// records are not in the table yet (see batch.pending): their state is
// the pending one.
func (r resolution) state(rkey string, st recState) (identity.State, error) {
	if p, ok := r.b.pending[rkey]; ok {
		st = p.state
	}
	out := identity.State{Golden: st.golden, Deleted: st.deleted, Version: st.event}
	if st.deleted {
		return out, nil
	}
	ks, err := decodeList[string](st.mkeys)
	if err != nil {
		return out, fmt.Errorf("record %s: match keys: %w", rkey, err)
	}
	out.Keys = ks
	return out, nil
}

// States implements identity.ResolveStore.
func (r resolution) States(ctx context.Context, rkeys []string) (map[string]identity.State, error) {
	out := make(map[string]identity.State, len(rkeys))
	var unread []string
	for _, k := range rkeys {
		if _, ok := r.b.pending[k]; !ok {
			unread = append(unread, k)
			continue
		}
		st, err := r.state(k, recState{})
		if err != nil {
			return nil, err
		}
		out[k] = st
	}
	if err := r.s.eachChunk(ctx, r.b.tx, `SELECT `+stateCols+` FROM records WHERE rkey IN (%s)`, unread, func(rows *sql.Rows) error {
		k, st, err := scanState(rows)
		if err != nil || !st.customer {
			return err
		}
		out[k], err = r.state(k, st)
		return err
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// Members implements identity.ResolveStore. Only customer records have a
// golden id; a filter on entity would make SQLite prefer the (entity,
// ...) index.
func (r resolution) Members(ctx context.Context, goldens []string) ([]identity.Member, error) {
	var out []identity.Member
	if err := r.s.eachChunk(ctx, r.b.tx, `SELECT `+stateCols+` FROM records WHERE golden_id IN (%s)`, goldens, func(rows *sql.Rows) error {
		k, st, err := scanState(rows)
		if err != nil {
			return err
		}
		m := identity.Member{Key: k}
		m.State, err = r.state(k, st)
		out = append(out, m)
		return err
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// Joined implements identity.ResolveStore: force-merge rules and
// automatic fuzzy links, both ways.
func (r resolution) Joined(ctx context.Context, rkeys []string) ([]string, error) {
	var out []string
	for _, q := range []string{
		`SELECT b FROM identity_rules WHERE kind = 'force_merge' AND a IN (%s)`,
		`SELECT a FROM identity_rules WHERE kind = 'force_merge' AND b IN (%s)`,
		`SELECT b FROM fuzzy_links WHERE auto = 1 AND a IN (%s)`,
		`SELECT a FROM fuzzy_links WHERE auto = 1 AND b IN (%s)`,
	} {
		if err := r.s.eachChunk(ctx, r.b.tx, q, rkeys, appendColumn(&out)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Holders implements identity.ResolveStore.
func (r resolution) Holders(ctx context.Context, keys []string) ([]string, error) {
	var out []string
	if err := r.s.eachChunk(ctx, r.b.tx, `SELECT rkey FROM match_keys WHERE mkey IN (%s)`, keys, appendColumn(&out)); err != nil {
		return nil, err
	}
	return out, nil
}

// appendColumn scans a one-column result into *out.
func appendColumn(out *[]string) func(*sql.Rows) error {
	return func(rows *sql.Rows) error {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		*out = append(*out, v)
		return nil
	}
}

// Load implements identity.ResolveStore.
func (r resolution) Load(ctx context.Context, states map[string]identity.State) (map[string]identity.Record, error) {
	return r.s.loadStates(ctx, r.b, states)
}

// Rules implements identity.ResolveStore.
func (r resolution) Rules(ctx context.Context, rkeys []string) ([]identity.Rule, error) {
	return r.s.rulesFor(ctx, r.b.tx, rkeys)
}

// Links implements identity.ResolveStore.
func (r resolution) Links(ctx context.Context, rkeys []string) ([]identity.Link, error) {
	return r.s.linksFor(ctx, r.b.tx, rkeys)
}

// WriteReviews implements identity.ResolveStore.
func (r resolution) WriteReviews(ctx context.Context, rkeys []string, reviews []identity.Candidate) error {
	return r.s.writeReviews(ctx, r.b.tx, rkeys, reviews)
}

// WriteGoldens implements identity.ResolveStore.
func (r resolution) WriteGoldens(ctx context.Context, goldens []identity.Golden, prev map[string]string) error {
	return r.s.writeGoldens(ctx, r.b, goldens, prev)
}

// Retire implements identity.ResolveStore.
func (r resolution) Retire(ctx context.Context, gone []identity.Retirement) error {
	return r.s.retireGoldens(ctx, r.b, gone)
}

// Assign implements identity.ResolveStore: deleted stored records are
// detached from their golden customer, and the batch's records written
// with theirs.
func (r resolution) Assign(ctx context.Context, clusterOf map[string]string) error {
	var stored []string
	for k := range r.b.dirty {
		if _, ok := r.b.pending[k]; !ok {
			stored = append(stored, k)
		}
	}
	sort.Strings(stored)
	if err := r.s.execChunk(ctx, r.b.tx, `UPDATE records SET golden_id = NULL WHERE deleted = 1 AND rkey IN (%s)`, stored); err != nil {
		return fmt.Errorf("detach deleted: %w", err)
	}
	return r.s.writePending(ctx, r.b, clusterOf)
}

// BlockMembers implements identity.LinkStore.
func (r resolution) BlockMembers(ctx context.Context, keys []string, limit int) (map[string][]string, error) {
	out := make(map[string][]string, len(keys))
	var read []string
	for _, k := range keys {
		if c, ok := r.b.blocks[k]; ok && c.upTo >= limit {
			out[k] = c.members[:min(len(c.members), limit)]
		} else {
			read = append(read, k)
		}
	}
	if len(read) == 0 {
		return out, nil
	}
	got, err := r.s.blockMembers(ctx, r.b.tx, read, limit)
	if err != nil {
		return nil, err
	}
	for k, m := range got {
		out[k] = m
	}
	return out, nil
}

// blockRead is a block's members as a batch read them after writing its
// match keys: the first upTo, or all where fewer.
type blockRead struct {
	members []string
	upTo    int
}

// Live implements identity.LinkStore.
func (r resolution) Live(ctx context.Context, rkeys []string) (map[string]identity.Record, error) {
	return r.s.loadLive(ctx, r.b, rkeys)
}

// ReplaceLinks implements identity.LinkStore.
func (r resolution) ReplaceLinks(ctx context.Context, rkeys []string, links []identity.Link) error {
	for _, q := range []string{`DELETE FROM fuzzy_links WHERE a IN (%s)`, `DELETE FROM fuzzy_links WHERE b IN (%s)`} {
		if err := r.s.execChunk(ctx, r.b.tx, q, rkeys); err != nil {
			return fmt.Errorf("clear fuzzy links: %w", err)
		}
	}
	return r.s.insertLinks(ctx, r.b.tx, links)
}

// ReplaceOwnLinks implements identity.OwnLinkStore.
func (r resolution) ReplaceOwnLinks(ctx context.Context, rkeys []string, links []identity.Link) error {
	if err := r.s.execChunk(ctx, r.b.tx, `DELETE FROM fuzzy_links WHERE a IN (%s)`, rkeys); err != nil {
		return fmt.Errorf("clear fuzzy links: %w", err)
	}
	return r.s.insertLinks(ctx, r.b.tx, links)
}

func (s *Store) insertLinks(ctx context.Context, tx *sql.Tx, links []identity.Link) error {
	rows := make([][]any, len(links))
	for i, l := range links {
		rows[i] = []any{l.A, l.B, l.Score, b2i(l.Auto)}
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO fuzzy_links (a, b, score, auto) `, "text,text,float8,integer", ``, rows); err != nil {
		return fmt.Errorf("write fuzzy links: %w", err)
	}
	return nil
}

// rulesFor loads the steward rules touching any of the records.
func (s *Store) rulesFor(ctx context.Context, tx *sql.Tx, rkeys []string) ([]identity.Rule, error) {
	seen := map[[2]string]bool{}
	var out []identity.Rule
	for _, q := range []string{`SELECT a, b, kind FROM identity_rules WHERE a IN (%s)`, `SELECT a, b, kind FROM identity_rules WHERE b IN (%s)`} {
		if err := s.eachChunk(ctx, tx, q, rkeys, func(rows *sql.Rows) error {
			var r identity.Rule
			if err := rows.Scan(&r.A, &r.B, &r.Kind); err != nil {
				return err
			}
			if !seen[[2]string{r.A, r.B}] {
				seen[[2]string{r.A, r.B}] = true
				out = append(out, r)
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("load rules: %w", err)
		}
	}
	return out, nil
}

// writeReviews replaces the review candidates of the records with the
// ones the latest resolution found.
func (s *Store) writeReviews(ctx context.Context, tx *sql.Tx, rkeys []string, reviews []identity.Candidate) error {
	for _, q := range []string{`DELETE FROM review_candidates WHERE a IN (%s)`, `DELETE FROM review_candidates WHERE b IN (%s)`} {
		if err := s.execChunk(ctx, tx, q, rkeys); err != nil {
			return fmt.Errorf("clear reviews: %w", err)
		}
	}
	rows := make([][]any, len(reviews))
	for i, r := range reviews {
		rows[i] = []any{r.A, r.B, r.Score}
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO review_candidates (a, b, score) `, "text,text,float8", ``, rows); err != nil {
		return fmt.Errorf("write reviews: %w", err)
	}
	return nil
}

// scanLink reads a fuzzy_links row selected as a, b, score, auto.
func scanLink(rows *sql.Rows) (identity.Link, error) {
	var (
		l    identity.Link
		auto int
	)
	err := rows.Scan(&l.A, &l.B, &l.Score, &auto)
	l.Auto = auto == 1
	return l, err
}

// linksFor loads the fuzzy links touching any of the records.
func (s *Store) linksFor(ctx context.Context, tx *sql.Tx, rkeys []string) ([]identity.Link, error) {
	seen := map[[2]string]bool{}
	out := []identity.Link{}
	for _, q := range []string{`SELECT a, b, score, auto FROM fuzzy_links WHERE a IN (%s)`, `SELECT a, b, score, auto FROM fuzzy_links WHERE b IN (%s)`} {
		if err := s.eachChunk(ctx, tx, q, rkeys, func(rows *sql.Rows) error {
			l, err := scanLink(rows)
			if err != nil {
				return err
			}
			if !seen[[2]string{l.A, l.B}] {
				seen[[2]string{l.A, l.B}] = true
				out = append(out, l)
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("load fuzzy links: %w", err)
		}
	}
	return out, nil
}

// blockChunk is how many blocks one statement reads: each is a sub-select
// of a compound SELECT, which SQLite caps at 500 terms; a power of two,
// as padKeys makes every list.
const blockChunk = 256

// blockMembers returns up to limit record keys of each block key: one
// LIMIT sub-select per key, joined by UNION ALL on SQLite, a LATERAL join
// over the key array on PostgreSQL.
func (s *Store) blockMembers(ctx context.Context, tx *sql.Tx, keys []string, limit int) (map[string][]string, error) {
	return s.blockMembersUpTo(ctx, tx, keys, func(string) int { return limit })
}

// blockMembersUpTo is blockMembers with a limit per block.
func (s *Store) blockMembersUpTo(ctx context.Context, tx *sql.Tx, keys []string, limitOf func(string) int) (map[string][]string, error) {
	members := make(map[string][]string, len(keys))
	for i := 0; i < len(keys); {
		var (
			q    string
			args []any
		)
		if s.pg {
			limits := make([]int, len(keys))
			for j, k := range keys {
				limits[j] = limitOf(k)
			}
			q = `SELECT k.mkey, m.rkey FROM unnest($1::text[], $2::int[]) AS k(mkey, lim)
CROSS JOIN LATERAL (SELECT rkey FROM match_keys WHERE mkey = k.mkey LIMIT k.lim) AS m`
			args, i = []any{keys, limits}, len(keys)
		} else {
			part := keys[i:min(i+blockChunk, len(keys))]
			i += len(part)
			q, args = sqliteBlocksQuery(part, limitOf)
		}
		if err := s.scanAll(ctx, tx, q, args, func(rows *sql.Rows) error {
			var k, r string
			if err := rows.Scan(&k, &r); err != nil {
				return err
			}
			members[k] = append(members[k], r)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("block members: %w", err)
		}
	}
	return members, nil
}

// sqliteBlocksQuery reads the members of the blocks keys (at most
// blockChunk), up to limitOf each, in one compound SELECT.
func sqliteBlocksQuery(keys []string, limitOf func(string) int) (string, []any) {
	// Padded with the empty key, which no record has: a repeated block
	// would be read again.
	keys = padWith(keys, "")
	var q strings.Builder
	args := make([]any, 0, 2*len(keys))
	// The placeholders are cast (stmtCache says why): bare, every use of
	// this statement planned its 256 sub-selects again, 1.0-1.3 CPU-s of
	// a 20,000-person sync's 40.
	for j, k := range keys {
		if j > 0 {
			q.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&q, "SELECT mkey, rkey FROM (SELECT mkey, rkey FROM match_keys WHERE mkey = CAST(? AS TEXT) LIMIT CAST(? AS INTEGER)) AS b%d", j)
		args = append(args, k, limitOf(k))
	}
	return q.String(), args
}

// loadStates reads the live ones of the customer records whose states
// component found, parsing only those the cache does not hold in their
// current version.
func (s *Store) loadStates(ctx context.Context, b *batch, states map[string]identity.State) (map[string]identity.Record, error) {
	out := make(map[string]identity.Record, len(states))
	var miss []string
	for rkey, st := range states {
		if st.Deleted {
			continue
		}
		if p, ok := b.pending[rkey]; ok {
			out[rkey] = p.rec
			continue
		}
		if r, ok := s.cache.get(rkey, st.Version); ok {
			out[rkey] = r
		} else {
			miss = append(miss, rkey)
		}
	}
	sort.Strings(miss)
	if err := s.parseRecords(ctx, b.tx, miss, out); err != nil {
		return nil, err
	}
	return out, nil
}

// parseRecords reads and parses the records of rkeys into out, and caches
// them.
func (s *Store) parseRecords(ctx context.Context, tx *sql.Tx, rkeys []string, out map[string]identity.Record) error {
	if err := s.eachChunk(ctx, tx, `SELECT rkey, system, source_entity, source_id, updated_at, data, event_id
FROM records WHERE rkey IN (%s)`, rkeys, func(rows *sql.Rows) error {
		var (
			rkey, data, event string
			at                int64
			r                 identity.Record
		)
		if err := rows.Scan(&rkey, &r.System, &r.SourceEntity, &r.SourceID, &at, &data, &event); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(data), &r.Customer); err != nil {
			return fmt.Errorf("stored record %s: %w", rkey, err)
		}
		r.UpdatedAt = fromNanos(at)
		out[rkey] = r
		s.cache.put(rkey, event, r)
		return nil
	}); err != nil {
		return fmt.Errorf("load records: %w", err)
	}
	return nil
}

// loadLive reads live customer records by key. A cache entry the cache
// trusts (see recordCache.trusted) is used without asking the database;
// the others are validated by their current event id, as in loadStates.
func (s *Store) loadLive(ctx context.Context, b *batch, rkeys []string) (map[string]identity.Record, error) {
	out := make(map[string]identity.Record, len(rkeys))
	var unsure []string
	for _, rkey := range rkeys {
		if p, ok := b.pending[rkey]; ok {
			if !p.state.deleted {
				out[rkey] = p.rec
			}
		} else if r, ok := s.cache.trusted(rkey); ok {
			out[rkey] = r
		} else {
			unsure = append(unsure, rkey)
		}
	}
	states := map[string]identity.State{}
	if err := s.eachChunk(ctx, b.tx, `SELECT `+stateCols+` FROM records WHERE rkey IN (%s)`, unsure, func(rows *sql.Rows) error {
		r, st, err := scanState(rows)
		if err == nil && st.customer {
			// Only the version and whether it is deleted are read.
			states[r] = identity.State{Deleted: st.deleted, Version: st.event}
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("load records: %w", err)
	}
	recs, err := s.loadStates(ctx, b, states)
	if err != nil {
		return nil, err
	}
	for k, r := range recs {
		out[k] = r
	}
	return out, nil
}

// The store is resolution's storage, nothing more.
var (
	_ identity.ResolveStore = resolution{}
	_ identity.LinkStore    = resolution{}
	_ identity.OwnLinkStore = resolution{}
)
