package store

import (
	"context"
	"fmt"

	"github.com/crmhub/crmhub/hub/identity"
)

// CustomerRecords reads up to limit live customer records (all when limit
// is 0), in key order, for estimating the identity model
// (crmhub identity train).
func (s *Store) CustomerRecords(ctx context.Context, limit int) ([]identity.Record, error) {
	q := `SELECT ` + recordCols + ` FROM records WHERE entity = 'customer' AND deleted = 0 AND data IS NOT NULL ORDER BY rkey`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	recs, err := s.readRecords(ctx, q, nil)
	if err != nil {
		return nil, fmt.Errorf("read customer records: %w", err)
	}
	return recs, nil
}
