package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

// rescoreChunk is how many customer records one rescoring transaction
// takes: small enough that the applier waits little for the lock.
const rescoreChunk = 500

// ModelChanged reports whether the store's fuzzy links were scored under
// another identity model than the resolver's (see identity.Fingerprint).
// A store without customer records takes the current model as its own; a
// store from before models were recorded counts as changed (its links were
// scored by the hand-weighted scorer).
func (s *Store) ModelChanged(ctx context.Context) (bool, error) {
	var fp string
	err := s.rdb.QueryRowContext(ctx, `SELECT fingerprint FROM identity_model WHERE id = 1`).Scan(&fp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		found, err := anyRow(ctx, s.rdb, `SELECT 1 FROM records WHERE entity = 'customer'`)
		if err != nil {
			return false, infra(err)
		}
		if !found {
			return false, s.recordModel(ctx)
		}
		return true, nil
	case err != nil:
		return false, infra(err)
	}
	return fp != s.res.Fingerprint(), nil
}

func (s *Store) recordModel(ctx context.Context) error {
	return s.markModel(ctx, s.res.Fingerprint())
}

// Rescore scores every fuzzy link again with the resolver's model and then
// re-clusters the customers that changed, in two passes of small
// transactions: all links first, so that the second pass resolves each
// customer from links of one model only. Afterwards the golden customers
// are what the records and the current model give, as if every record had
// arrived under it; golden ids stay those of the smallest record key, so
// unchanged customers keep theirs. progress, when set, hears each
// committed chunk.
//
// When the store knows the model its links were scored with (the
// configured one or a stored version, see scoredWith), the second pass
// re-clusters only the records whose fuzzy links (set, score or automatic
// join) or e-mail and phone verdicts the new model changed, with the
// golden customers they belong to: everywhere else ResolveLinks gets what
// it got and gives what it gave (the demo at 20,000 people: 4,270 of
// 47,371 customer records changed from the defaults to the estimate,
// customers pass 10.5 s -> 0.9 s). Otherwise every customer is
// re-clustered.
func (s *Store) Rescore(ctx context.Context, progress func(pass string, done, total int)) (hub.ApplyStats, error) {
	old, err := s.scoredWith(ctx)
	if err != nil {
		return hub.ApplyStats{}, fmt.Errorf("rescore: %w", err)
	}
	return s.rescoreFrom(ctx, old, progress)
}

// rescoreFrom is Rescore re-clustering the records changed from old's links
// and verdicts to the current model's, or every record when old is nil.
func (s *Store) rescoreFrom(ctx context.Context, old *identity.Resolver, progress func(pass string, done, total int)) (hub.ApplyStats, error) {
	var total hub.ApplyStats
	var keys []string
	keysOf := map[string][]string{}
	rows, err := s.rdb.QueryContext(ctx, `SELECT rkey, COALESCE(mkeys, '') FROM records WHERE entity = 'customer' AND deleted = 0 ORDER BY rkey`)
	if err != nil {
		return total, fmt.Errorf("rescore: %w", infra(err))
	}
	for rows.Next() {
		var rkey, mkeys string
		if err := rows.Scan(&rkey, &mkeys); err != nil {
			rows.Close()
			return total, fmt.Errorf("rescore: %w", err)
		}
		ks, err := decodeList[string](mkeys)
		if err != nil {
			rows.Close()
			return total, fmt.Errorf("rescore: stored record %s: match keys: %w", rkey, err)
		}
		keys = append(keys, rkey)
		keysOf[rkey] = ks
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return total, fmt.Errorf("rescore: %w", infra(err))
	}
	// Until the second pass is done the links are of neither model: a
	// rescore cut short must not take the old model's links for the
	// stored ones, so the next one (at start, or the next estimate) does
	// everything.
	if err := s.markModel(ctx, rescoringFingerprint); err != nil {
		return total, fmt.Errorf("rescore: %w", err)
	}
	var dirty map[string]bool
	if old != nil {
		dirty = map[string]bool{}
	}
	for i := 0; i < len(keys); i += rescoreChunk {
		chunk := keys[i:min(i+rescoreChunk, len(keys))]
		err := s.exclusive(ctx, func(tx *sql.Tx) error {
			b := stewardBatch(tx)
			if dirty == nil {
				return s.relinkOwn(ctx, b, resolution{s: s, b: b}, chunk, keysOf)
			}
			if err := s.relinkOwn(ctx, b, changedLinks{resolution{s: s, b: b}, dirty}, chunk, keysOf); err != nil {
				return err
			}
			return s.contactsChanged(ctx, b, old, chunk, keysOf, dirty)
		})
		if err != nil {
			return total, fmt.Errorf("rescore links %d-%d of %d: %w", i, i+len(chunk), len(keys), infra(err))
		}
		if progress != nil {
			progress("links", i+len(chunk), len(keys))
		}
	}
	if dirty != nil {
		keys = slices.Sorted(maps.Keys(dirty))
		s.log.InfoContext(ctx, "identity rescore: customer records whose links or verdicts changed",
			"changed", len(keys), "of", len(keysOf))
	}
	for i := 0; i < len(keys); i += rescoreChunk {
		chunk := keys[i:min(i+rescoreChunk, len(keys))]
		err := s.exclusive(ctx, func(tx *sql.Tx) error {
			st, err := s.reresolve(ctx, tx, chunk)
			total.GoldenCreated += st.GoldenCreated
			total.GoldenMerged += st.GoldenMerged
			return err
		})
		if err != nil {
			return total, fmt.Errorf("rescore customers %d-%d of %d: %w", i, i+len(chunk), len(keys), infra(err))
		}
		if progress != nil {
			progress("customers", i+len(chunk), len(keys))
		}
	}
	if len(keys) == 0 && progress != nil {
		progress("customers", 0, 0)
	}
	if err := s.recordModel(ctx); err != nil {
		return total, fmt.Errorf("rescore: %w", err)
	}
	return total, nil
}

// rescoringFingerprint stands in identity_model while a rescore runs: no
// resolver has it, so the store counts as changed (ModelChanged) and as
// scored by no known model (scoredWith).
const rescoringFingerprint = "rescoring"

func (s *Store) markModel(ctx context.Context, fp string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO identity_model (id, fingerprint, source, rescored_at) VALUES (1, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, source = excluded.source, rescored_at = excluded.rescored_at`),
		fp, s.res.ModelSource(), time.Now().UnixNano())
	return infra(err)
}

// scoredWith is the resolver the store's links were scored with, nil when
// none it can build has the recorded fingerprint: the configured model, or
// the newest stored version with that fingerprint, under today's
// configuration (thresholds, blocking, block cap).
func (s *Store) scoredWith(ctx context.Context) (*identity.Resolver, error) {
	var fp string
	err := s.rdb.QueryRowContext(ctx, `SELECT fingerprint FROM identity_model WHERE id = 1`).Scan(&fp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, infra(err)
	}
	cur := s.res.get()
	usable := func(r *identity.Resolver) bool { return r.Fingerprint() == fp && r.MaxBlock() == cur.MaxBlock() }
	if r := identity.New(s.res.base); usable(r) {
		return r, nil
	}
	var version int
	var params string
	err = s.rdb.QueryRowContext(ctx, s.q(`SELECT version, params FROM identity_models WHERE fingerprint = ? ORDER BY version DESC LIMIT 1`), fp).Scan(&version, &params)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, infra(err)
	}
	p, err := storedParams(version, params)
	if err != nil {
		return nil, err
	}
	if r := s.res.withPeople(p); usable(r) {
		return r, nil
	}
	return nil, nil
}

// changedLinks is the link store of an incremental rescore: before it
// replaces the links of some records (their own: those whose smaller key
// they are, see identity.Resolver.RelinkOwn) it notes the records at either end
// of every link that appears, disappears or changes score or join.
type changedLinks struct {
	resolution
	dirty map[string]bool
}

// ReplaceOwnLinks implements identity.OwnLinkStore.
func (c changedLinks) ReplaceOwnLinks(ctx context.Context, rkeys []string, links []identity.Link) error {
	var before []identity.Link
	if err := c.s.eachChunk(ctx, c.b.tx, `SELECT a, b, score, auto FROM fuzzy_links WHERE a IN (%s)`, rkeys, func(rows *sql.Rows) error {
		l, err := scanLink(rows)
		if err != nil {
			return err
		}
		before = append(before, l)
		return nil
	}); err != nil {
		return fmt.Errorf("load fuzzy links: %w", err)
	}
	c.noteChanged(before, links)
	return c.resolution.ReplaceOwnLinks(ctx, rkeys, links)
}

// noteChanged marks the ends of every link in one list and not the
// other, or in both with another score or join.
func (c changedLinks) noteChanged(before, links []identity.Link) {
	was := make(map[[2]string]identity.Link, len(before))
	for _, l := range before {
		was[[2]string{l.A, l.B}] = l
	}
	for _, l := range links {
		k := [2]string{l.A, l.B}
		if o, ok := was[k]; !ok || o.Score != l.Score || o.Auto != l.Auto {
			c.dirty[l.A], c.dirty[l.B] = true, true
		}
		delete(was, k)
	}
	for _, l := range was {
		c.dirty[l.A], c.dirty[l.B] = true, true
	}
}

// contactsChanged notes the records of rkeys, and those sharing an e-mail
// or phone key with them, whose verdict (join, review, apart, the score a
// review shows) differs between old and the current model. ResolveLinks
// weighs no key held by more than the block cap, so neither does this.
func (s *Store) contactsChanged(ctx context.Context, b *batch, old *identity.Resolver, rkeys []string, keysOf map[string][]string, dirty map[string]bool) error {
	limit := s.res.MaxBlock()
	if limit == 0 {
		return nil
	}
	contactsOf := map[string][]string{}
	keySet := map[string]bool{}
	for _, rk := range rkeys {
		for _, k := range keysOf[rk] {
			if identity.IsContactKey(k) {
				contactsOf[rk] = append(contactsOf[rk], k)
				keySet[k] = true
			}
		}
	}
	if len(keySet) == 0 {
		return nil
	}
	members, err := s.blockMembers(ctx, b.tx, slices.Sorted(maps.Keys(keySet)), limit+1)
	if err != nil {
		return fmt.Errorf("contact key holders: %w", err)
	}
	need := map[string]bool{}
	for _, ms := range members {
		if len(ms) > 1 && len(ms) <= limit {
			for _, m := range ms {
				need[m] = true
			}
		}
	}
	if len(need) == 0 {
		return nil
	}
	recs, err := s.loadLive(ctx, b, slices.Sorted(maps.Keys(need)))
	if err != nil {
		return err
	}
	cur := s.res.get()
	for _, rk := range rkeys {
		a, ok := recs[rk]
		if !ok {
			continue
		}
		for _, k := range contactsOf[rk] {
			if ms := members[k]; len(ms) <= limit {
				for _, m := range ms {
					// Each pair once: from its smaller key.
					if o, ok := recs[m]; ok && m > rk && cur.ContactVerdictChanged(old, a, o) {
						dirty[rk], dirty[m] = true, true
					}
				}
			}
		}
	}
	return nil
}

// exclusive runs fn in a transaction that no Apply of this process or (on
// PostgreSQL) of another instance interleaves with.
func (s *Store) exclusive(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	err := s.steward(ctx, fn)
	// Records were re-clustered outside Apply: the cache's golden ids and
	// the counts may be stale.
	s.cache.distrust()
	s.countsCache.wrote()
	return err
}
