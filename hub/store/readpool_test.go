package store

import (
	"context"
	"database/sql"
	"testing"
)

func TestReadPoolKeepsConnectionsSQLite(t *testing.T) {
	testReadPoolKeepsConnections(t, MustOpenSQLite(t, Options{}), sqliteReaders)
}

func TestReadPoolKeepsConnectionsPostgresIntegration(t *testing.T) {
	testReadPoolKeepsConnections(t, MustOpenPostgres(t, Options{}), 8)
}

// Read transactions on every connection of the read pool at once, ended
// together, leave every connection open for the next reads: a reader
// closed and opened again loses its page cache and prepared statements.
func testReadPoolKeepsConnections(t *testing.T, s *Store, conns int) {
	ctx := context.Background()
	var txs []*sql.Tx
	for range conns {
		tx, err := s.readTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM goldens`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	for _, tx := range txs {
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.rdb.Stats(); st.MaxIdleClosed != 0 || st.OpenConnections != conns {
		t.Errorf("after %d reads at once: %d connections closed as surplus idle, %d open, want 0 and %d", conns, st.MaxIdleClosed, st.OpenConnections, conns)
	}
}
