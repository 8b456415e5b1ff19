package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/crmhub/crmhub/internal/placeholder"
)

// DB is one SQL store's connection pools and dialect.
type DB struct {
	// Write takes writes. On SQLite it is the single writer connection
	// (transactions begin immediate: they hold the write lock from BEGIN);
	// on PostgreSQL the same pool as Read.
	Write *sql.DB
	// Read takes reads: on SQLite the pool of read connections.
	Read *sql.DB
	// Postgres: the statements' "?" are numbered for PostgreSQL.
	Postgres bool
}

// Q rewrites the "?" placeholders of query for the dialect. The SQL of the
// store's packages holds no "?" inside literals.
func (d DB) Q(query string) string {
	if !d.Postgres {
		return query
	}
	return placeholder.Dollar(query)
}

// InTx runs fn in a transaction on Write, committed when fn returns nil
// and rolled back otherwise.
func (d DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.Write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	return Finish(tx, fn)
}

// Finish runs fn in tx, begun by the caller, and commits tx when fn
// returns nil; otherwise it rolls tx back and returns fn's error.
func Finish(tx *sql.Tx, fn func(tx *sql.Tx) error) error {
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Each calls scan for every row of rows and closes them; it returns the
// first error of scan or of the rows.
func Each(rows *sql.Rows, scan func(*sql.Rows) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Params is n comma-separated placeholders, for an IN list or a row.
func Params(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// Nanos is how the store keeps a time: nanoseconds since 1970, 0 for the
// zero time.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromNanos reads a time kept by Nanos, in UTC; 0 is the zero time.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
