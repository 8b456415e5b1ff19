package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

// readRecords runs a query selecting recordCols and returns the customer
// records, in the query's order, outside any batch.
func (s *Store) readRecords(ctx context.Context, query string, args []any) ([]identity.Record, error) {
	rows, err := s.rdb.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, infra(err)
	}
	defer rows.Close()
	var out []identity.Record
	for rows.Next() {
		var (
			r    identity.Record
			at   int64
			data sql.NullString
		)
		if err := rows.Scan(&r.System, &r.SourceEntity, &r.SourceID, &at, &data); err != nil {
			return nil, err
		}
		if !data.Valid {
			continue
		}
		if err := json.Unmarshal([]byte(data.String), &r.Customer); err != nil {
			return nil, fmt.Errorf("stored record %s: %w", r.Key(), err)
		}
		r.UpdatedAt = fromNanos(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// keyed indexes records by their key.
func keyed(recs []identity.Record) map[string]identity.Record {
	out := make(map[string]identity.Record, len(recs))
	for _, r := range recs {
		out[r.Key()] = r
	}
	return out
}

const recordCols = `system, source_entity, source_id, updated_at, data`

// recordsByKey reads live customer records by key.
func (s *Store) recordsByKey(ctx context.Context, keys []string) (map[string]identity.Record, error) {
	out := map[string]identity.Record{}
	for _, part := range s.keyChunks(keys) {
		q, args := s.inList(`SELECT `+recordCols+` FROM records WHERE rkey IN (%s) AND entity = 'customer' AND deleted = 0`, part)
		recs, err := s.readRecords(ctx, q, args)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			out[r.Key()] = r
		}
	}
	return out, nil
}

// withEvidence adds to each review the two records and how the matcher
// compares them now (the current model: a pair scored before a model
// change shows the new model's view).
func (s *Store) withEvidence(ctx context.Context, reviews []hub.Review) error {
	var keys []string
	for _, r := range reviews {
		keys = append(keys, r.A, r.B)
	}
	recs, err := s.recordsByKey(ctx, keys)
	if err != nil {
		return fmt.Errorf("reviews: %w", err)
	}
	for i := range reviews {
		a, okA := recs[reviews[i].A]
		b, okB := recs[reviews[i].B]
		if !okA || !okB {
			continue
		}
		reviews[i].RecordA, reviews[i].RecordB = &a.Customer, &b.Customer
		if ev, ok := s.res.Explain(a, b); ok {
			reviews[i].Evidence = &ev
		}
	}
	return nil
}

// MatchEvidence explains the fuzzy links that hold a golden customer's
// source records together: for each linked pair, how the matcher compares
// the two records (with the current model).
func (s *Store) MatchEvidence(ctx context.Context, golden string) ([]hub.MatchEvidence, error) {
	list, err := s.readRecords(ctx, `SELECT `+recordCols+` FROM records WHERE golden_id = ? AND entity = 'customer' AND deleted = 0`, []any{golden})
	if err != nil {
		return nil, fmt.Errorf("match evidence of %s: %w", golden, err)
	}
	recs := keyed(list)
	keys := make([]string, 0, len(recs))
	for k := range recs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := []hub.MatchEvidence{}
	for _, part := range s.keyChunks(keys) {
		q, args := s.inList(`SELECT a, b FROM fuzzy_links WHERE a IN (%s)`, part)
		rows, err := s.rdb.QueryContext(ctx, s.q(q), args...)
		if err != nil {
			return nil, fmt.Errorf("match evidence of %s: %w", golden, infra(err))
		}
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				rows.Close()
				return nil, err
			}
			ra, okA := recs[a]
			rb, okB := recs[b]
			if !okA || !okB {
				continue // a link to another customer: a review, not a join
			}
			if ev, ok := s.res.Explain(ra, rb); ok {
				out = append(out, ev)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].A < out[j].A || out[i].A == out[j].A && out[i].B < out[j].B })
	return out, nil
}
