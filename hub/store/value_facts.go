package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/value"
)

// Value facts (migration 0023, hub/value facts.go) are what the figures
// read of each live order, payment and service case, kept per record in
// value_facts under the customer reference the record names. Apply writes
// a record's fact in the transaction that writes the record, and the
// recompute of a golden customer reads the facts of the customers its
// source records are (one range of the table each) instead of reading and
// JSON-decoding its records: that was a third of a recompute.
//
// Why facts and a recompute from them, rather than per-customer
// aggregates that add and subtract one record's contribution: several
// figures are not sums of independent contributions. A payment settles
// its invoice by date order, so a payment arriving changes the days to
// pay and the lateness of an invoice already counted; a credit note
// subtracts unless it names a cancelled or returned order, which may
// arrive later; the overdue balance is capped by the open balance; the
// purchase interval is a median of gaps between order days. Aggregates
// exact under every arrival order, delete and merge would need most of
// the facts again, so the figures are recomputed from the facts, which
// costs a range read and a few allocations per record and stays exactly
// Compute over the records (TestFactsComputeAsRecords,
// TestValueFactsProperty). Facts name source customers, not goldens: a
// merge or unmerge rewrites no fact, it only recomputes the goldens it
// touched from their facts.
//
// value_facts_state.complete says whether the facts may be trusted. It
// starts at 0 (a store from before 0023 holds records without facts),
// Apply with the figures off sets it back to 0 (it writes no facts), and
// the first recompute that finds it at 0 rebuilds every fact from the
// records (ensureFacts), in its transaction.

// factChange is one linked record's new version in a batch: the customer
// its live stored version named (old, zero if none), the customer it names
// now and its decoded record (nil for a delete).
type factChange struct {
	rkey   string
	old    hub.Ref
	ref    hub.Ref
	linked any
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

// writeFacts writes the facts of the batch's linked records: a record
// that names the same customer as before gets its fact updated, one that
// names another or is deleted loses the old row, a live one gets a new
// row. With the figures off it only marks the facts incomplete.
func (s *Store) writeFacts(ctx context.Context, tx *sql.Tx, changes []factChange) error {
	if len(changes) == 0 {
		return nil
	}
	if s.val.off {
		if _, err := tx.ExecContext(ctx, `UPDATE value_facts_state SET complete = 0 WHERE id = 1 AND complete = 1`); err != nil {
			return fmt.Errorf("value facts: mark incomplete: %w", err)
		}
		return nil
	}
	var drop, ins, upd [][]any
	for _, c := range changes {
		fact, live := factOf(c.linked)
		if c.old.System != "" && (!live || c.old != c.ref) {
			drop = append(drop, []any{c.old.System, c.old.ID, c.rkey})
		}
		if !live {
			continue
		}
		row := []any{c.ref.System, c.ref.ID, c.rkey, fact}
		if c.old == c.ref && !s.pg {
			upd = append(upd, row)
		} else {
			ins = append(ins, row)
		}
	}
	if err := s.deleteRows(ctx, tx, dropFacts, drop); err != nil {
		return fmt.Errorf("value facts: drop: %w", err)
	}
	// SQLite: the upsert split in two (see insertRows); PostgreSQL: one
	// upsert, which also mends a fact left by a store that ran without
	// the figures meanwhile.
	if err := s.insertRows(ctx, tx, `INSERT INTO value_facts (ref_system, ref_id, rkey, fact) `, "text,text,text,text",
		s.pgOnly(` ON CONFLICT (ref_system, ref_id, rkey) DO UPDATE SET fact = excluded.fact`), ins); err != nil {
		return fmt.Errorf("value facts: write: %w", err)
	}
	if err := s.insertRows(ctx, tx, `UPDATE value_facts SET fact = v.column4 FROM (`, "text,text,text,text",
		`) AS v WHERE value_facts.ref_system = v.column1 AND value_facts.ref_id = v.column2 AND value_facts.rkey = v.column3`, upd); err != nil {
		return fmt.Errorf("value facts: update: %w", err)
	}
	return nil
}

var dropFacts = rowDelete{`DELETE FROM value_facts WHERE (ref_system, ref_id, rkey) IN (`, "text,text,text", `)`}

// factPage is how many records one step of the rebuild decodes.
const factPage = 2000

// ensureFacts rebuilds every fact from the records when they are not
// known complete. The state row's update is the lock: of two writers
// finding it incomplete, the second waits for the first's commit and
// then finds nothing to do.
func (s *Store) ensureFacts(ctx context.Context, tx *sql.Tx) error {
	res, err := tx.ExecContext(ctx, `UPDATE value_facts_state SET complete = 1 WHERE id = 1 AND complete = 0`)
	if err != nil {
		return fmt.Errorf("value facts: state: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM value_facts`); err != nil {
		return fmt.Errorf("value facts: clear: %w", err)
	}
	after, total := "", 0
	for {
		var rows [][]any
		if err := s.scanAll(ctx, tx, s.q(`SELECT rkey, entity, data, ref_system, ref_id FROM records
WHERE rkey > ? AND entity <> 'customer' AND deleted = 0 AND ref_system IS NOT NULL ORDER BY rkey LIMIT ?`), []any{after, factPage}, func(r *sql.Rows) error {
			var (
				rkey, entity, sys, id string
				data                  sql.NullString
			)
			if err := r.Scan(&rkey, &entity, &data, &sys, &id); err != nil {
				return err
			}
			after = rkey
			linked, err := decodeFactRecord(entity, []byte(data.String))
			if err != nil {
				return fmt.Errorf("stored %s %s: %w", entity, rkey, err)
			}
			fact, _ := factOf(linked)
			rows = append(rows, []any{sys, id, rkey, fact})
			return nil
		}); err != nil {
			return fmt.Errorf("value facts: read records: %w", err)
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO value_facts (ref_system, ref_id, rkey, fact) `, "text,text,text,text", ``, rows); err != nil {
			return fmt.Errorf("value facts: write: %w", err)
		}
		total += len(rows)
		if len(rows) < factPage {
			break
		}
	}
	s.log.InfoContext(ctx, "value facts rebuilt from the records", "records", total)
	return nil
}

// decodeFactRecord decodes a stored order, payment or service case.
func decodeFactRecord(entity string, data []byte) (any, error) {
	var v any
	switch entity {
	case hub.EntityOrder:
		v = &hub.Order{}
	case hub.EntityPayment:
		v = &hub.Payment{}
	case hub.EntityServiceCase:
		v = &hub.ServiceCase{}
	default:
		return nil, fmt.Errorf("not a linked entity: %q", entity)
	}
	return v, json.Unmarshal(data, v)
}
