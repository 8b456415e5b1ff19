package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/crmhub/hub"
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
		var n int
		if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM records WHERE entity = 'customer' LIMIT 1) x`).Scan(&n); err != nil {
			return false, infra(err)
		}
		if n == 0 {
			return false, s.recordModel(ctx)
		}
		return true, nil
	case err != nil:
		return false, infra(err)
	}
	return fp != s.res.Fingerprint(), nil
}

func (s *Store) recordModel(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO identity_model (id, fingerprint, source, rescored_at) VALUES (1, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint, source = excluded.source, rescored_at = excluded.rescored_at`),
		s.res.Fingerprint(), s.res.ModelSource(), time.Now().UnixNano())
	return infra(err)
}

// Rescore scores every fuzzy link again with the resolver's model and then
// re-clusters every customer, in two passes of small transactions: all
// links first, so that the second pass resolves each customer from links
// of one model only. Afterwards the golden customers are what the records
// and the current model give, as if every record had arrived under it;
// golden ids stay those of the smallest record key, so unchanged customers
// keep theirs. progress, when set, hears each committed chunk.
func (s *Store) Rescore(ctx context.Context, progress func(pass string, done, total int)) (hub.ApplyStats, error) {
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
	for _, pass := range []string{"links", "customers"} {
		for i := 0; i < len(keys); i += rescoreChunk {
			chunk := keys[i:min(i+rescoreChunk, len(keys))]
			err := s.exclusive(ctx, func(tx *sql.Tx) error {
				if pass == "links" {
					return s.relink(ctx, stewardBatch(tx), chunk, keysOf)
				}
				st, err := s.reresolve(ctx, tx, chunk)
				total.GoldenCreated += st.GoldenCreated
				total.GoldenMerged += st.GoldenMerged
				return err
			})
			if err != nil {
				return total, fmt.Errorf("rescore %s %d-%d of %d: %w", pass, i, i+len(chunk), len(keys), infra(err))
			}
			if progress != nil {
				progress(pass, i+len(chunk), len(keys))
			}
		}
	}
	if err := s.recordModel(ctx); err != nil {
		return total, fmt.Errorf("rescore: %w", err)
	}
	return total, nil
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
