package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

// GoldenStates returns, for the ids that are active golden customers, what
// the golden change stream publishes: the customer, its source records,
// the ids merged into it and the update time, the same values
// FindCustomerByID shows. Ids that are merged, retired or unknown are
// absent. It reads all ids in a few set-based queries in one read
// transaction, and source records through the parsed-record cache; the
// stream read each change with FindCustomerByID before, which also loaded
// every linked order, payment and case it then threw away.
func (s *Store) GoldenStates(ctx context.Context, ids []string) (map[string]*hub.GoldenCustomer, error) {
	out := map[string]*hub.GoldenCustomer{}
	if len(ids) == 0 {
		return out, nil
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("golden states: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	ids = uniq(ids)
	if err := s.eachChunk(ctx, tx, `SELECT id, data, updated_at FROM goldens WHERE status = 'active' AND id IN (%s)`, ids, func(rows *sql.Rows) error {
		var (
			g    hub.GoldenCustomer
			data string
			at   int64
		)
		if err := rows.Scan(&g.ID, &data, &at); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(data), &g.Customer); err != nil {
			return fmt.Errorf("customer %s: stored golden record: %w", g.ID, err)
		}
		g.UpdatedAt = fromNanos(at)
		out[g.ID] = &g
		return nil
	}); err != nil {
		return nil, fmt.Errorf("golden states: %w", err)
	}
	active := sortedKeys(func() map[string]bool {
		m := map[string]bool{}
		for id := range out {
			m[id] = true
		}
		return m
	}())
	if err := s.valueSummaries(ctx, tx, active, out); err != nil {
		return nil, fmt.Errorf("golden states: %w", err)
	}

	// Sources in the order FindCustomerByID lists them (the database's
	// order of rkey), parsed only when the cache lacks their version.
	type src struct{ golden, rkey string }
	var order []src
	recs := map[string]identity.Record{}
	var miss []string
	if err := s.eachChunk(ctx, tx, `SELECT golden_id, rkey, event_id FROM records
WHERE golden_id IN (%s) AND deleted = 0 ORDER BY golden_id, rkey`, active, func(rows *sql.Rows) error {
		var x src
		var event string
		if err := rows.Scan(&x.golden, &x.rkey, &event); err != nil {
			return err
		}
		order = append(order, x)
		if r, ok := s.cache.get(x.rkey, event); ok {
			recs[x.rkey] = r
		} else {
			miss = append(miss, x.rkey)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("golden states: sources: %w", err)
	}
	if err := s.parseRecords(ctx, tx, uniq(miss), recs); err != nil {
		return nil, fmt.Errorf("golden states: sources: %w", err)
	}
	for _, x := range order {
		r, ok := recs[x.rkey]
		if !ok {
			return nil, fmt.Errorf("golden states: source %s of %s vanished inside a read transaction", x.rkey, x.golden)
		}
		g := out[x.golden]
		g.Sources = append(g.Sources, hub.SourceRecordRef{System: r.System, SourceEntity: r.SourceEntity,
			SourceID: r.SourceID, UpdatedAt: r.UpdatedAt, Customer: r.Customer})
	}

	if err := s.eachChunk(ctx, tx, `SELECT merged_into, id FROM goldens WHERE merged_into IN (%s) ORDER BY merged_into, id`, active, func(rows *sql.Rows) error {
		var into, id string
		if err := rows.Scan(&into, &id); err != nil {
			return err
		}
		out[into].MergedFrom = append(out[into].MergedFrom, id)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("golden states: merged ids: %w", err)
	}
	return out, nil
}
