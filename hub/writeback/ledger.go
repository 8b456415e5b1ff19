package writeback

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // the ledger's own database
)

// Ledger remembers, per target record, the hash of the fields crmhub last
// wrote there (or found there).
type Ledger interface {
	Hashes(ctx context.Context, target string, ids []string) (map[string]string, error)
	Record(ctx context.Context, target string, hashes map[string]string) error
}

// SQLiteLedger is a Ledger in its own SQLite file next to the hub's data.
type SQLiteLedger struct{ db *sql.DB }

var _ Ledger = (*SQLiteLedger)(nil)

// OpenLedger opens (and creates) the ledger database at path.
func OpenLedger(ctx context.Context, path string) (*SQLiteLedger, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("open write-back ledger %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS written (
  target TEXT NOT NULL, record_id TEXT NOT NULL, hash TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (target, record_id))`); err != nil {
		db.Close()
		return nil, fmt.Errorf("create write-back ledger %s: %w", path, err)
	}
	return &SQLiteLedger{db: db}, nil
}

// Hashes returns the known hash of each id that has one.
func (l *SQLiteLedger) Hashes(ctx context.Context, target string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		var h string
		err := l.db.QueryRowContext(ctx, `SELECT hash FROM written WHERE target = ? AND record_id = ?`, target, id).Scan(&h)
		switch {
		case err == sql.ErrNoRows:
		case err != nil:
			return nil, fmt.Errorf("write-back ledger %s: %w", target, err)
		default:
			out[id] = h
		}
	}
	return out, nil
}

// Record stores hashes in one transaction.
func (l *SQLiteLedger) Record(ctx context.Context, target string, hashes map[string]string) error {
	if len(hashes) == 0 {
		return nil
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write-back ledger %s: %w", target, err)
	}
	defer tx.Rollback()
	now := time.Now().UnixNano()
	for id, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO written (target, record_id, hash, at) VALUES (?, ?, ?, ?)
ON CONFLICT (target, record_id) DO UPDATE SET hash = excluded.hash, at = excluded.at`, target, id, h, now); err != nil {
			return fmt.Errorf("write-back ledger %s: %w", target, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write-back ledger %s: %w", target, err)
	}
	return nil
}

// Close closes the database.
func (l *SQLiteLedger) Close() error { return l.db.Close() }
