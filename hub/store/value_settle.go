package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// The deferred recompute re-reads all facts of every customer it takes
// (about 12 us per record of the customer on the bench stream), so
// during a sync that keeps touching a customer, recomputing it once per
// pass cost several recomputes of each customer (docs/benchmarks.md:
// paced). DrainSettled takes a customer once it stopped changing: no
// mark of it (its golden id, or a source customer record it holds) was
// touched within quiet. A customer that keeps changing is taken anyway
// once one of its marks is maxLag old, which bounds how stale its
// figures get: maxLag plus the pause between passes.
//
// A customer's marks are of two kinds (value_dirty): its golden id,
// marked when a batch resolved its customer records, and the source
// customers its orders, payments and cases name, marked when those
// apply. They settle separately: an order arriving after the customer
// record leaves the golden-id mark settled and the customer's reference
// not. So a settled mark is resolved to its goldens first, and a golden
// holding any unsettled mark waits: its settled marks are handed to the
// moving ones (drainSettledChunk), which take it once they settle.

// markGrain is how far apart two touches of a mark must be for the
// later to be written (valueAfter).
const markGrain = 100 * time.Millisecond

// markKey is one value_dirty row's key: system "" for a golden id.
type markKey struct{ system, key string }

// DrainSettled recomputes, in one pass over the marks in key order and a
// transaction per max marks, the customers whose marks settled (last
// touched at least quiet ago) and those with a mark at least maxLag old,
// and returns how many marks it took. After each transaction commits,
// took, when set, gets the goldens it recomputed and the change feed's
// last seq at its commit: every change of them up to that seq has its
// figures (the golden change stream holds upserts for them).
func (s *Store) DrainSettled(ctx context.Context, max int, quiet, maxLag time.Duration, took func(ids []string, seq int64)) (int, error) {
	// A first fill's sweep goes first, when due (value_sweep.go): the
	// marks then are those its changes wrote since it started.
	total, err := s.sweepValues(ctx, max, false, quiet, maxLag, took)
	if err != nil {
		return total, err
	}
	now := s.val.wall()
	lastBy, firstBy := now.Add(-quiet).UnixMilli(), now.Add(-maxLag).UnixMilli()
	var after markKey
	// The goldens this pass recomputed, in chunks committed: a golden
	// often has marks in several chunks (its golden id, and the source
	// customer of each system its orders, invoices and cases name, which
	// sort apart), and recomputing it for each cost a seventh more
	// recomputes in a first sync's last pass.
	recomputed := map[string]bool{}
	for {
		n, next, done := 0, markKey{}, false
		var (
			ids []string
			seq int64
		)
		err := s.valueTx(ctx, func(tx *sql.Tx) error {
			var err error
			n, next, done, ids, err = s.drainSettledChunk(ctx, tx, max, after, lastBy, firstBy, quiet > markGrain, recomputed)
			if err == nil && took != nil && len(ids) > 0 {
				seq, err = feedSeq(ctx, tx)
			}
			return err
		})
		if err != nil {
			return total, fmt.Errorf("value drain: %w", err)
		}
		if took != nil && len(ids) > 0 {
			took(ids, seq)
		}
		for _, id := range ids {
			recomputed[id] = true
		}
		total += n
		// customer_value fills here, not in Apply: in a first sync most of
		// it after the last batch, when no apply would check the
		// statistics again until the next sync. Statistics from while it
		// was small have the planner scan it where an index serves.
		s.applyMu.Lock()
		s.appliedForStats(ctx, n)
		s.applyMu.Unlock()
		if done {
			return total, nil
		}
		after = next
	}
}

// drainSettledChunk reads up to max settled marks after the key after,
// recomputes the goldens none of whose marks is still moving and deletes
// those marks, and hands the others on (below); it returns how many
// marks it took, the last key it read, whether none is left after it
// and the goldens it recomputed.
//
// A settled mark all of whose goldens an earlier chunk of the pass
// recomputed (recomputed) is deleted without recomputing them again when
// skip is set: its last touch is older than the pass, so that recompute
// read what the touch wrote (the batch that touched it committed before
// the pass began: SQLite has one writer, and a batch stamps its marks
// inside its transaction). A touch since would have moved the mark's
// last_at past lastBy, out of the settled ones, which skip requires
// quiet longer than markGrain for (a touch within markGrain of the last
// keeps the old last_at). A forced mark still moving is recomputed.
func (s *Store) drainSettledChunk(ctx context.Context, tx *sql.Tx, max int, after markKey, lastBy, firstBy int64, skip bool, recomputed map[string]bool) (int, markKey, bool, []string, error) {
	var (
		marks  []markKey
		first  = map[markKey]int64{} // when each mark was first set
		lastAt = map[markKey]int64{} // when each was last touched
		last   markKey
	)
	// A row-value comparison, so each chunk seeks to the cursor in the
	// primary key (an OR of the two columns scanned the system's marks
	// from its first on SQLite).
	if err := s.scanAll(ctx, tx, s.q(`SELECT system, dkey, first_at, last_at FROM value_dirty
WHERE (system, dkey) > (?, ?) AND (last_at <= ? OR first_at <= ?) ORDER BY system, dkey LIMIT ?`),
		[]any{after.system, after.key, lastBy, firstBy, max}, func(r *sql.Rows) error {
			var (
				m         markKey
				at, touch int64
			)
			if err := r.Scan(&m.system, &m.key, &at, &touch); err != nil {
				return err
			}
			marks = append(marks, m)
			first[m], lastAt[m] = at, touch
			last = m
			return nil
		}); err != nil {
		return 0, last, false, nil, err
	}
	if len(marks) == 0 {
		return 0, last, true, nil, nil
	}
	// The goldens of each mark: a golden id names itself, a reference the
	// goldens holding that source customer.
	goldens := map[markKey][]string{}
	bySystem := map[string][]string{}
	for _, m := range marks {
		if m.system == "" {
			goldens[m] = []string{m.key}
		} else {
			bySystem[m.system] = append(bySystem[m.system], m.key)
		}
	}
	for _, sys := range sortedKeys(boolSet(bySystem)) {
		for _, part := range s.keyChunks(bySystem[sys]) {
			q, args := s.inList(`SELECT source_id, golden_id FROM records WHERE entity = 'customer' AND system = ? AND deleted = 0 AND golden_id IS NOT NULL AND source_id IN (%s)`, part)
			if err := s.scanAll(ctx, tx, s.q(q), append([]any{sys}, args...), func(r *sql.Rows) error {
				var id, g string
				if err := r.Scan(&id, &g); err != nil {
					return err
				}
				m := markKey{sys, id}
				goldens[m] = append(goldens[m], g)
				return nil
			}); err != nil {
				return 0, last, false, nil, fmt.Errorf("value: customers of marks: %w", err)
			}
		}
	}
	// The marks an earlier chunk's recompute covered (above) go now,
	// and take no part in what follows.
	var covered []markKey
	if skip {
		kept := marks[:0:0]
		for _, m := range marks {
			gs := goldens[m]
			if lastAt[m] <= lastBy && len(gs) > 0 && !slices.ContainsFunc(gs, func(g string) bool { return !recomputed[g] }) {
				covered = append(covered, m)
				continue
			}
			kept = append(kept, m)
		}
		marks = kept
	}
	all := map[string]bool{}
	for _, m := range marks {
		for _, g := range goldens[m] {
			all[g] = true
		}
	}
	// The inputs of these goldens (their customer records, credit
	// limits), read once: they say which source customer marks to look
	// at below, and the recompute takes them as they are (this
	// transaction). Finding the moving marks joined the customer records
	// of each golden to the marks, a read of them the recompute then did
	// again.
	keys := sortedKeys(all)
	known := make(map[string]*goldenInputs, len(keys))
	if err := s.readGoldenInputs(ctx, tx, keys, known); err != nil {
		return 0, last, false, nil, err
	}
	// The goldens with a mark still moving, and those marks: their own,
	// or that of a source customer record they hold.
	moving := map[string][]markKey{}
	// None moves once a sync has ended, in its last pass, which takes
	// most of a first sync's customers: one look at the marks then spares
	// looking up the marks of every golden to find none.
	anyMoving, err := anyRow(ctx, tx, s.q(`SELECT 1 FROM value_dirty WHERE last_at > ? AND first_at > ?`), lastBy, firstBy)
	if err != nil {
		return 0, last, false, nil, fmt.Errorf("value: any mark moving: %w", err)
	}
	if anyMoving {
		// Every mark that could hold a golden back, looked up by its key:
		// the golden's own (system "") and its customer records'.
		held, bySys := ownersOfCustomers(keys, known)
		for _, g := range keys {
			held[linkedRef{"", g}] = []string{g}
		}
		bySys[""] = keys
		for _, sys := range sortedKeys(boolSet(bySys)) {
			srcIDs := bySys[sys]
			slices.Sort(srcIDs)
			if err := s.eachMarkQuery(ctx, tx, `SELECT dkey FROM value_dirty WHERE system = ? AND dkey IN (%s) AND last_at > ? AND first_at > ?`, sys, srcIDs, lastBy, firstBy, func(r *sql.Rows) error {
				m := markKey{system: sys}
				if err := r.Scan(&m.key); err != nil {
					return err
				}
				for _, g := range held[linkedRef{m.system, m.key}] {
					moving[g] = append(moving[g], m)
				}
				return nil
			}); err != nil {
				return 0, last, false, nil, fmt.Errorf("value: moving marks: %w", err)
			}
		}
	}
	// A forced mark (maxLag old) takes its goldens however they move.
	for _, m := range marks {
		if first[m] <= firstBy {
			for _, g := range goldens[m] {
				delete(moving, g)
			}
		}
	}
	// A settled mark of goldens that all still move is handed to their
	// moving marks, which recompute them once they settle: it is
	// deleted, and a moving mark first set after it takes its first_at,
	// so the bound on staleness still counts from the older change. A
	// pass thus reads it once, not in every pass until they settle. A
	// mark of goldens of which only some move (a source customer in two
	// goldens, mid-resolution) stays for a later pass.
	ids := map[string]bool{}
	var taken, handed []markKey
	inherit := map[markKey]int64{} // moving mark -> the first_at it takes
	for _, m := range marks {
		n := 0
		for _, g := range goldens[m] {
			if len(moving[g]) > 0 {
				n++
			}
		}
		switch {
		case n == 0:
			taken = append(taken, m)
			// The goldens read above, in this transaction: resolving a
			// reference again (valueTargets, as DrainValue does) read
			// the same customer records a second time.
			for _, g := range goldens[m] {
				ids[g] = true
			}
		case n == len(goldens[m]):
			handed = append(handed, m)
			for _, g := range goldens[m] {
				for _, mm := range moving[g] {
					if at, ok := inherit[mm]; !ok || first[m] < at {
						inherit[mm] = first[m]
					}
				}
			}
		}
	}
	// What valueTargets adds beyond the goldens of the marks, as in
	// DrainValue: goldens merged into these that still carry figures.
	if err := s.mergedWithFigures(ctx, tx, ids); err != nil {
		return 0, last, false, nil, err
	}
	recompute := sortedKeys(ids)
	if err := s.refreshValuesOf(ctx, tx, recompute, s.val.now(), known); err != nil {
		return 0, last, false, nil, err
	}
	byTakenSystem := map[string][]string{}
	for _, m := range slices.Concat(taken, handed, covered) {
		byTakenSystem[m.system] = append(byTakenSystem[m.system], m.key)
	}
	for _, sys := range sortedKeys(boolSet(byTakenSystem)) {
		for _, part := range s.keyChunks(byTakenSystem[sys]) {
			q, args := s.inList(`DELETE FROM value_dirty WHERE system = ? AND dkey IN (%s)`, part)
			if _, err := tx.ExecContext(ctx, s.q(q), append([]any{sys}, args...)...); err != nil {
				return 0, last, false, nil, fmt.Errorf("value: clear marks: %w", err)
			}
		}
	}
	rows := make([][]any, 0, len(inherit))
	for m, at := range inherit {
		rows = append(rows, []any{m.system, m.key, at})
	}
	slices.SortFunc(rows, func(a, b []any) int {
		return cmp.Or(cmp.Compare(a[0].(string), b[0].(string)), cmp.Compare(a[1].(string), b[1].(string)))
	})
	if err := s.insertRows(ctx, tx, `UPDATE value_dirty SET first_at = v.column3 FROM (`, "text,text,bigint",
		`) AS v WHERE value_dirty.system = v.column1 AND value_dirty.dkey = v.column2 AND value_dirty.first_at > v.column3`, rows); err != nil {
		return 0, last, false, nil, fmt.Errorf("value: hand marks on: %w", err)
	}
	return len(taken) + len(covered), last, len(marks)+len(covered) < max, recompute, nil
}

// feedSeq is the change feed's last seq as tx sees it: what a recompute
// committing with tx tells the golden stream (took) it has covered.
func feedSeq(ctx context.Context, tx *sql.Tx) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM golden_changes`).Scan(&seq)
	return seq, err
}

// eachMarkQuery runs query, whose parameters are the system, the keys
// ("IN (%s)"), lastBy and firstBy, over keys.
func (s *Store) eachMarkQuery(ctx context.Context, tx *sql.Tx, query, system string, keys []string, lastBy, firstBy int64, scan func(*sql.Rows) error) error {
	for _, part := range s.keyChunks(keys) {
		q, args := s.inList(query, part)
		if err := s.scanAll(ctx, tx, s.q(q), append(append([]any{system}, args...), lastBy, firstBy), scan); err != nil {
			return err
		}
	}
	return nil
}
