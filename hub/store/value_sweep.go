package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// The first fill of the value figures. A store created empty (migration
// 0030 leaves a value_sweep row in it) computes its customers' figures in
// one sweep over the active goldens in id order once its first load
// pauses, instead of marking each customer every batch touches and
// recomputing them as the marks settle (value_settle.go). A first load
// touches every customer, several times over (its record, then each
// system's orders, invoices and cases): in a first sync of 20,000 people
// on PostgreSQL the marks were 124,672 upserts, 72,758 deletes and the
// reads, counts and ANALYZEs of a table churned through twice, about two
// fifths of the server's extra statement time for the figures, and the
// customers recomputed while the load still touched them were recomputed
// again at its end (29,708 rows inserted for 26,639 customers).
//
// Until the sweep starts, apply writes no marks: the sweep reads every
// customer as it is then. It starts once apply has been quiet for the
// drain's quiet (value.delay), or sweepWaitFactor x value.max_lag after
// the first batch of the load, whichever comes first, and never on a
// store without an active golden (an idle new hub waits for its data).
// Once it has started (after set) apply marks as usual: a golden the
// sweep has passed gets its later changes from the marks, one it has not
// yet reached is swept as it is then. The sweep commits a chunk at a time
// with its cursor, so a restart resumes it; the row, and so the reading of
// it on apply, goes once it has passed the last golden. Until it starts,
// each batch applied without marks stamps the row with its time, which
// says when the sweep is due.
//
// The row is read inside each transaction that depends on it (apply,
// the sweep), not trusted from memory, because several hubs may share
// one PostgreSQL (they serialize on its advisory lock): one's sweep must
// not start while another still applies without marks. gone caches only
// that the row is gone, which is for ever.

// sweepWaitFactor bounds how long a first load that never pauses keeps
// its figures waiting: this many times value.max_lag after its first
// batch, the sweep starts anyway (and apply marks from then on).
const sweepWaitFactor = 10

// sweepState is what this process knows of the sweep.
type sweepState struct {
	gone atomic.Bool // no value_sweep row: the first fill is done
}

// sweepRow is the sweep's row: after, the last golden swept (empty
// before the sweep starts), and the stamps of the first and the last
// batch applied without marks (unix ms).
type sweepRow struct {
	after         string
	first, latest int64
}

// readSweep reads the sweep's row: ok false once it is gone.
func (s *Store) readSweep(ctx context.Context, q readQueryer) (row sweepRow, ok bool, err error) {
	if s.val.sweep.gone.Load() {
		return row, false, nil
	}
	err = q.QueryRowContext(ctx, `SELECT after, first_at, last_at FROM value_sweep WHERE id = 1`).Scan(&row.after, &row.first, &row.latest)
	if errors.Is(err, sql.ErrNoRows) {
		s.val.sweep.gone.Store(true)
		return row, false, nil
	}
	if err != nil {
		return row, false, fmt.Errorf("value sweep: %w", err)
	}
	return row, true, nil
}

// anyActiveGolden finds whether a store has a customer for the sweep.
const anyActiveGolden = `SELECT 1 FROM goldens WHERE status = 'active'`

// sweepDefers reports whether the batch of tx need write no marks: the
// sweep has not started, so it will read what the batch wrote. Such a
// batch stamps the row (first_at, last_at), one statement: the stamps,
// not this process's memory, say when the sweep is due, to every hub on
// the store and after a restart.
func (s *Store) sweepDefers(ctx context.Context, tx *sql.Tx) (bool, error) {
	if s.val.sweep.gone.Load() {
		return false, nil
	}
	at := s.val.wall().UnixMilli()
	res, err := tx.ExecContext(ctx, s.q(`UPDATE value_sweep SET first_at = CASE WHEN first_at = 0 THEN ? ELSE first_at END, last_at = ?
WHERE id = 1 AND after = ''`), at, at)
	if err != nil {
		return false, fmt.Errorf("value sweep: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 1 {
		return n == 1, err
	}
	// Started, or gone (readSweep notes that).
	_, _, err = s.readSweep(ctx, tx)
	return false, err
}

// ValueFilling reports whether the first fill of the figures may still be
// to come (deferred figures, and no sign yet that the sweep is done): the
// golden change stream holds upserts for it without the max_lag bound.
// Read from memory: it turns false in this process once an apply, a
// pending check or the sweep here found the row gone.
func (s *Store) ValueFilling() bool {
	return !s.val.off && s.val.deferred && !s.val.sweep.gone.Load()
}

// sweepPending reports whether the sweep has figures to compute: it has
// started, or there is an active golden for it to start on.
func (s *Store) sweepPending(ctx context.Context, q readQueryer) (bool, error) {
	row, ok, err := s.readSweep(ctx, q)
	if err != nil || !ok {
		return false, err
	}
	if row.after != "" {
		return true, nil
	}
	yes, err := anyRow(ctx, q, anyActiveGolden)
	if err != nil {
		return false, fmt.Errorf("value sweep: %w", err)
	}
	return yes, nil
}

// sweepLeft counts the active goldens the sweep has still to pass, 0 when
// there is no sweep.
func (s *Store) sweepLeft(ctx context.Context, q readQueryer) (int, error) {
	row, ok, err := s.readSweep(ctx, q)
	if err != nil || !ok {
		return 0, err
	}
	var n int
	if err := q.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM goldens WHERE status = 'active' AND id > ?`), row.after).Scan(&n); err != nil {
		return 0, fmt.Errorf("value sweep: %w", err)
	}
	return n, nil
}

// sweepValues runs the sweep, a transaction per max goldens, if it is
// pending and due (always, with force; else as the comment above says,
// quiet and maxLag being the drain's), and returns how many goldens it
// recomputed. took, when set, hears of each chunk's goldens and the
// change feed's last seq at its commit, as in DrainSettled.
func (s *Store) sweepValues(ctx context.Context, max int, force bool, quiet, maxLag time.Duration, took func(ids []string, seq int64)) (int, error) {
	total := 0
	var start time.Time
	for !s.val.sweep.gone.Load() {
		var (
			ids           []string
			seq           int64
			idle, through bool
		)
		err := s.valueTx(ctx, func(tx *sql.Tx) error {
			ids, idle, through = nil, false, false
			row, ok, err := s.readSweep(ctx, tx)
			if err != nil || !ok {
				return err
			}
			if row.after == "" && !force {
				// Quiet since the load's last batch, or the load's first
				// batch long enough ago (no batch: goldens that came
				// another way, nothing to wait for).
				now := s.val.wall().UnixMilli()
				due := now-row.latest >= quiet.Milliseconds() || now-row.first >= (sweepWaitFactor*maxLag).Milliseconds()
				if due {
					// An empty store waits for its first load.
					if due, err = anyRow(ctx, tx, anyActiveGolden); err != nil {
						return err
					}
				}
				if !due {
					idle = true
					return nil
				}
			}
			if err := s.scanAll(ctx, tx, s.q(`SELECT id FROM goldens WHERE status = 'active' AND id > ? ORDER BY id LIMIT ?`), []any{row.after, max}, func(r *sql.Rows) error {
				var id string
				err := r.Scan(&id)
				ids = append(ids, id)
				return err
			}); err != nil {
				return fmt.Errorf("goldens: %w", err)
			}
			if err := s.refreshValuesOf(ctx, tx, ids, s.val.now(), nil); err != nil {
				return err
			}
			if len(ids) < max {
				through = true
				_, err = tx.ExecContext(ctx, `DELETE FROM value_sweep`)
			} else {
				_, err = tx.ExecContext(ctx, s.q(`UPDATE value_sweep SET after = ? WHERE id = 1`), ids[len(ids)-1])
			}
			if err == nil && took != nil && len(ids) > 0 {
				seq, err = feedSeq(ctx, tx)
			}
			return err
		})
		if err != nil {
			return total, fmt.Errorf("value sweep: %w", err)
		}
		if idle {
			return total, nil
		}
		if start.IsZero() {
			start = time.Now()
			s.log.InfoContext(ctx, "value figures: first fill sweep running", "goldens", len(ids))
		}
		if through {
			s.val.sweep.gone.Store(true)
			s.log.InfoContext(ctx, "value figures: first fill sweep done", "goldens", total+len(ids), "took", time.Since(start).Round(time.Millisecond))
		}
		if took != nil && len(ids) > 0 {
			took(ids, seq)
		}
		total += len(ids)
		// customer_value fills here: statistics for it as it grows (as
		// DrainSettled).
		s.applyMu.Lock()
		s.appliedForStats(ctx, len(ids))
		s.applyMu.Unlock()
	}
	return total, nil
}
