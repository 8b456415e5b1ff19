package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/crmhub/crmhub/hub/identity"
)

// CustomerRecords reads up to limit live customer records (all when limit
// is 0), in key order, for estimating the identity model
// (crmhub identity train).
func (s *Store) CustomerRecords(ctx context.Context, limit int) ([]identity.Record, error) {
	q := `SELECT system, source_entity, source_id, updated_at, data FROM records
WHERE entity = 'customer' AND deleted = 0 AND data IS NOT NULL ORDER BY rkey`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read customer records: %w", infra(err))
	}
	defer rows.Close()
	var out []identity.Record
	for rows.Next() {
		var (
			r    identity.Record
			at   int64
			data string
		)
		if err := rows.Scan(&r.System, &r.SourceEntity, &r.SourceID, &at, &data); err != nil {
			return nil, fmt.Errorf("read customer records: %w", err)
		}
		if err := json.Unmarshal([]byte(data), &r.Customer); err != nil {
			return nil, fmt.Errorf("stored record %s: %w", r.Key(), err)
		}
		r.UpdatedAt = fromNanos(at)
		out = append(out, r)
	}
	return out, rows.Err()
}
