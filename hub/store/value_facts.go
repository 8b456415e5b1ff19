package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/value"
)

// Value facts (migration 0023, hub/value facts.go) are what the figures
// read of each live order, payment and service case, kept in the
// record's own row (records.value_fact): Apply writes the fact with the
// row, and the recompute of a golden customer reads the facts of the
// customers its source records are, through records_linked, instead of
// JSON-decoding their records (a third of a recompute). A table of its
// own, keyed by customer, read in one range per customer but cost a
// B-tree write per record applied, 6 us against 3 saved per record in the
// recompute; a column of the row being written costs a few bytes.
//
// Why facts and a recompute from them, rather than per-customer
// aggregates that add and subtract one record's contribution: several
// figures are not sums of independent contributions. A payment settles
// its invoice in date order, so a payment arriving changes the days to
// pay and the lateness of an invoice already counted; a credit note
// subtracts unless it names a cancelled or returned order, which may
// arrive later; the overdue balance is capped by the open balance; the
// purchase interval is a median of gaps between order days. Aggregates
// exact under every arrival order, delete and merge would hold most of
// the facts again, so the figures are recomputed from the facts, which
// costs an index range and a few allocations per record and is exactly
// Compute over the records (TestFactsComputeAsRecords,
// TestValueFactsProperty*). Facts are keyed by record and name source
// customers, not goldens: a merge or unmerge rewrites no fact, it
// recomputes the goldens it touched from their facts.
//
// A row without a fact (written before 0023, or with the figures off,
// which computes nothing on apply) is decoded from its data by the
// recompute that reads it, which writes the fact back: the back-fill of
// an existing store happens as its customers are recomputed, each record
// once. Records no recompute reads (of customers never touched again
// whose figures are of today, or naming no customer yet) are filled by
// RefreshValue (fillFacts), a bounded window of rows per run, so an
// existing store converges without a pass of its own.

// valueFact is the records.value_fact of a linked record's new version:
// its fact, or NULL for a delete or with the figures off.
func (s *Store) valueFact(linked any) any {
	if s.val.off {
		return nil
	}
	if f, ok := factOf(linked); ok {
		return f
	}
	return nil
}

// factOf is the value fact of a decoded linked record.
func factOf(linked any) (string, bool) {
	switch x := linked.(type) {
	case *hub.Order:
		return value.OrderFact(x), true
	case *hub.Payment:
		return value.PaymentFact(x), true
	case *hub.ServiceCase:
		return value.CaseFact(x), true
	}
	return "", false
}

// factOfData derives the fact of a stored record without one.
func factOfData(entity string, data []byte) (string, error) {
	var v any
	switch entity {
	case hub.EntityOrder:
		v = &hub.Order{}
	case hub.EntityPayment:
		v = &hub.Payment{}
	case hub.EntityServiceCase:
		v = &hub.ServiceCase{}
	default:
		return "", fmt.Errorf("not a linked entity: %q", entity)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return "", err
	}
	f, _ := factOf(v)
	return f, nil
}

// backfillFacts writes the facts a recompute derived (rkey, fact rows)
// into rows still without one.
func (s *Store) backfillFacts(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	if err := s.insertRows(ctx, tx, `UPDATE records SET value_fact = v.column2 FROM (`, "text,text",
		`) AS v WHERE records.rkey = v.column1 AND records.value_fact IS NULL`, rows); err != nil {
		return fmt.Errorf("value: back-fill facts: %w", err)
	}
	return nil
}

// factFill is where the back-fill of value facts is: the record key it
// scanned to, and whether it went through the whole table since the
// store opened (records applied since carry their fact).
type factFill struct {
	mu     sync.Mutex
	cursor string
	done   bool
	window int // records scanned per transaction
	perRun int // records scanned per fillFacts
}

// fillFacts writes the fact of the live linked records without one,
// scanning at most perRun records in key order from where the last call
// stopped, a window per transaction (apply waits for one window, not for
// the run); it returns how many facts it wrote. After one pass over the
// table it does nothing until the store is opened again.
func (s *Store) fillFacts(ctx context.Context) (int, error) {
	f := &s.val.fill
	f.mu.Lock()
	defer f.mu.Unlock()
	filled := 0
	for scanned := 0; !f.done && scanned < f.perRun; {
		n := min(f.window, f.perRun-scanned)
		err := s.valueTx(ctx, func(tx *sql.Tx) error {
			// The window ends at the n-th key after the cursor; past
			// the last key, it takes the rest.
			var end string
			err := tx.QueryRowContext(ctx, s.q(`SELECT rkey FROM records WHERE rkey > ? ORDER BY rkey LIMIT 1 OFFSET ?`), f.cursor, n-1).Scan(&end)
			last := errors.Is(err, sql.ErrNoRows)
			if err != nil && !last {
				return err
			}
			q, args := `SELECT rkey, entity, data FROM records WHERE rkey > ? AND value_fact IS NULL AND deleted = 0
  AND ref_system IS NOT NULL AND entity IN ('order', 'payment', 'service_case')`, []any{f.cursor}
			if !last {
				q, args = q+` AND rkey <= ?`, append(args, end)
			}
			var rows [][]any
			if err := s.scanAll(ctx, tx, s.q(q), args, func(r *sql.Rows) error {
				var rkey, entity string
				var data sql.NullString
				if err := r.Scan(&rkey, &entity, &data); err != nil {
					return err
				}
				fact, err := factOfData(entity, []byte(data.String))
				if err != nil {
					return fmt.Errorf("stored %s %s: %w", entity, rkey, err)
				}
				rows = append(rows, []any{rkey, fact})
				return nil
			}); err != nil {
				return err
			}
			if err := s.backfillFacts(ctx, tx, rows); err != nil {
				return err
			}
			filled += len(rows)
			f.cursor, f.done = end, last
			return nil
		})
		if err != nil {
			return filled, fmt.Errorf("value facts back-fill: %w", err)
		}
		scanned += n
	}
	return filled, nil
}
