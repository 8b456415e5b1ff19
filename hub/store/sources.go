package store

import (
	"context"
	"fmt"
)

// CountBySource counts the source records the store holds (tombstones of
// deleted records included) per "system/source_entity". Reconciliation and
// the end-to-end tests compare it with what the sources hold.
func (s *Store) CountBySource(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT system, source_entity, COUNT(*) FROM records GROUP BY system, source_entity`)
	if err != nil {
		return nil, fmt.Errorf("count by source: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var sys, ent string
		var n int64
		if err := rows.Scan(&sys, &ent, &n); err != nil {
			return nil, fmt.Errorf("count by source: %w", err)
		}
		out[sys+"/"+ent] = n
	}
	return out, rows.Err()
}
