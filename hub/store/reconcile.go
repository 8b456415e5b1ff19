package store

import (
	"context"
	"fmt"

	"github.com/crmhub/crmhub/hub"
)

// Reconciliation reads: what the hub holds of one source entity, to compare
// with what the source holds. Tombstones of deleted records are not live.

// LiveRecordCount counts the live (not deleted) records of a source entity.
func (s *Store) LiveRecordCount(ctx context.Context, system, sourceEntity string) (int64, error) {
	var n int64
	err := s.rdb.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM records WHERE system = ? AND source_entity = ? AND deleted = 0`),
		system, sourceEntity).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("live record count %s/%s: %w", system, sourceEntity, err)
	}
	return n, nil
}

// LiveSourceIDs pages through the source ids of a source entity's live
// records in byte order, the order of Go's string comparison on every
// backend (PostgreSQL compares with the C collation here, not the
// database's): after is the last id of the previous page, "" to start.
func (s *Store) LiveSourceIDs(ctx context.Context, system, sourceEntity, after string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	q := `SELECT source_id FROM records WHERE system = ? AND source_entity = ? AND deleted = 0 AND source_id > ? ORDER BY source_id LIMIT ?`
	if s.pg {
		q = `SELECT source_id FROM records WHERE system = ? AND source_entity = ? AND deleted = 0 AND source_id COLLATE "C" > ? ORDER BY source_id COLLATE "C" LIMIT ?`
	}
	rows, err := s.rdb.QueryContext(ctx, s.q(q), system, sourceEntity, after, limit)
	if err != nil {
		return nil, fmt.Errorf("live source ids %s/%s: %w", system, sourceEntity, err)
	}
	defer rows.Close()
	out := make([]string, 0, limit)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("live source ids %s/%s: %w", system, sourceEntity, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("live source ids %s/%s: %w", system, sourceEntity, err)
	}
	return out, nil
}

// OpenDeadLettersOf counts the open dead letters of a connector instance's
// source entity: records the source has and the hub could not take, part
// of the explanation of a drift.
func (s *Store) OpenDeadLettersOf(ctx context.Context, connector, sourceEntity string) (int64, error) {
	var n int64
	err := s.rdb.QueryRowContext(ctx, s.q(`SELECT COUNT(DISTINCT source_id) FROM dead_letters WHERE connector = ? AND source_entity = ? AND status = ?`),
		connector, sourceEntity, hub.DeadLetterOpen).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("open dead letters %s/%s: %w", connector, sourceEntity, err)
	}
	return n, nil
}
