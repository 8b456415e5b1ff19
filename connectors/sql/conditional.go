package sqlconn

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// versionKind checks that a version_column can be compared as a timestamp
// and sets how its values are read: a text column is read as a wall clock
// in the configured zone, like the source reads a text cursor. The hub
// knows a record's version as the updated-at the source reported, so
// counters (integer row versions) cannot be compared with it.
func versionKind(dbType string, k colKind, out *colKind) error {
	switch k {
	case kindTimeNoTZ, kindTimeTZ:
		*out = k
		return nil
	case kindPlain:
		t := strings.ToUpper(dbType)
		for _, n := range []string{"INT", "NUMERIC", "DECIMAL", "REAL", "FLOAT", "DOUBLE", "BOOL"} {
			if strings.Contains(t, n) {
				return fmt.Errorf("is %s: want a timestamp column (or text holding timestamps); the hub knows a row's version as its updated-at", dbType)
			}
		}
		*out = kindTimeNoTZ
		return nil
	}
	return fmt.Errorf("is %s: want a timestamp column (or text holding timestamps)", dbType)
}

// conflictError is the per-record result of a row that changed in the
// system since the hub read it.
func conflictError(table, key, what string, seen time.Time, detail string) error {
	since := "the hub last read it"
	if !seen.IsZero() {
		since = seen.UTC().Format(time.RFC3339Nano)
	}
	msg := fmt.Sprintf("%s row %s %s in %s since %s", sdk.ConflictPrefix, key, what, table, since)
	if detail != "" {
		msg += " (" + detail + ")"
	}
	return errors.New(msg)
}

// writeIfUnchanged writes a record only if nobody changed the row in the
// system since the hub read it, so an edit the hub has not seen yet is
// never overwritten (a lost update). In one transaction that holds the row:
//
//   - row absent and the hub never saw it (a create): INSERT;
//   - row absent but the hub saw it: conflict (deleted in the system);
//   - row present, its version not after the version the hub saw
//     (Meta seen_version), or equal to what crmhub's own last write set
//     (the version column among the touch fields in Meta last_written), or
//     NULL: UPDATE of the record's columns;
//   - otherwise: conflict, nothing written.
//
// Versions are compared as instants, read the way the source reads them.
//
// The version column is written with the database's own clock, read in the
// same transaction, never with a time the record carries (a source's
// business time): a row crmhub writes must sort after every position the
// system's incremental reader has saved, or that reader skips it, and a
// time from the future would move that reader's position past edits still
// to come. The value written is returned as Meta last_written, so the hub
// recognises its own write when the row comes back.
func (d *Destination) writeIfUnchanged(ctx context.Context, e *destEntity, r sdk.Record, where string, fields map[string]any, cols []string, args []any) (map[string]string, error) {
	vc := e.cfg.VersionColumn
	var seen, written time.Time
	if s := r.Meta[sdk.MetaSeenVersion]; s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("%s: meta %s %q is not an RFC 3339 time: %v", where, sdk.MetaSeenVersion, s, err)
		}
		seen = t
	}
	if s := r.Meta[sdk.MetaLastWritten]; s != "" {
		var last map[string]any
		if err := json.Unmarshal([]byte(s), &last); err != nil {
			return nil, fmt.Errorf("%s: meta %s is not a JSON object: %v", where, sdk.MetaLastWritten, err)
		}
		if v, ok := last[vc].(string); ok {
			if t, ok := toTime(v, e.version, d.loc); ok {
				written = t
			}
		}
	}
	tx, err := d.begin(ctx)
	if err != nil {
		return nil, d.classify(ctx, where, "begin", err)
	}
	defer tx.rollback()
	now, err := d.clock(ctx, tx.q)
	if err != nil {
		return nil, d.classify(ctx, where, "read the database clock", err)
	}
	version := formatVersion(now.In(d.loc), fields, vc, e.version)
	bound, err := bindValue(version, e.kinds[vc], d.loc)
	if err != nil {
		return nil, fmt.Errorf("%s: version column %s: %v", where, vc, err)
	}
	args[slices.Index(cols, vc)] = bound
	var cur any
	err = tx.q.QueryRowContext(ctx, d.stmt(e, "version", nil), args[0]).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if !seen.IsZero() || !written.IsZero() {
			return nil, conflictError(e.cfg.Table, fmt.Sprint(args[0]), "deleted", seen, "")
		}
		if _, err := tx.q.ExecContext(ctx, d.stmt(e, "insert", cols), args...); err != nil {
			tx.rollback()
			if d.exists(ctx, e, args[0]) {
				// Inserted by someone else since the read.
				return nil, conflictError(e.cfg.Table, fmt.Sprint(args[0]), "created", seen, "")
			}
			return nil, d.classify(ctx, where, "insert", err)
		}
	case err != nil:
		return nil, d.classify(ctx, where, "read "+vc, err)
	default:
		if cur != nil {
			v, ok := toTime(cur, e.version, d.loc)
			if !ok {
				return nil, fmt.Errorf("%s: version column %s holds %q, not a timestamp", where, vc, fmt.Sprint(cur))
			}
			if !(!seen.IsZero() && !v.After(seen)) && !(!written.IsZero() && v.Equal(written)) {
				return nil, conflictError(e.cfg.Table, fmt.Sprint(args[0]), "changed", seen, vc+" is "+v.Format(time.RFC3339Nano))
			}
		}
		if len(cols) > 1 {
			if _, err := tx.q.ExecContext(ctx, d.stmt(e, "update", cols), append(slices.Clone(args[1:]), args[0])...); err != nil {
				return nil, d.classify(ctx, where, "update", err)
			}
		}
	}
	if err := tx.commit(); err != nil {
		return nil, d.classify(ctx, where, "commit", err)
	}
	lw, _ := json.Marshal(map[string]string{vc: version})
	meta := map[string]string{sdk.MetaLastWritten: string(lw)}
	// The version as the source will read it back: the text written, read
	// the way the source reads the column.
	if at, ok := toTime(version, e.version, d.loc); ok {
		meta[sdk.MetaWrittenAt] = at.UTC().Format(time.RFC3339Nano)
	}
	return meta, nil
}

// clock reads the database's current time, in the transaction of the write.
func (d *Destination) clock(ctx context.Context, q queryExecer) (time.Time, error) {
	return dbClock(ctx, q, d.d.driverName)
}

// rowQueryer runs a one-row query: a *sql.DB, a transaction or a connection.
type rowQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// dbClock reads the database's current time: the clock that the rows'
// change timestamps come from, which crmhub's own may differ from.
func dbClock(ctx context.Context, q rowQueryer, driverName string) (time.Time, error) {
	var stmt string
	switch driverName {
	case "pgx":
		stmt = "SELECT CAST(CURRENT_TIMESTAMP AS TEXT)"
	case "mysql":
		stmt = "SELECT CAST(UTC_TIMESTAMP(6) AS CHAR)"
	default:
		stmt = "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"
	}
	var s string
	if err := q.QueryRowContext(ctx, stmt).Scan(&s); err != nil {
		return time.Time{}, err
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999Z07:00", mysqlTime} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("database clock %q: not a timestamp", s)
}

// versionLayouts are the text forms a version column's value is written in:
// the form of the value the record carries, so a text column keeps the
// format the system uses.
var versionLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04:05.000000", "2006-01-02 15:04:05.999999", time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05"}

// formatVersion renders now for the version column: in the layout of the
// value the record carries for it, else with microseconds.
func formatVersion(now time.Time, fields map[string]any, vc string, k colKind) string {
	if s, ok := fields[vc].(string); ok {
		for _, l := range versionLayouts {
			if t, err := time.Parse(l, s); err == nil && t.Format(l) == s {
				return now.Format(l)
			}
		}
	}
	if k == kindTimeTZ {
		return now.Format(time.RFC3339Nano)
	}
	return now.Format("2006-01-02 15:04:05.999999")
}

// queryExecer is what a conditional write runs its statements on.
type queryExecer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// condTx is the transaction of one conditional write.
type condTx struct {
	q        queryExecer
	commit   func() error
	rollback func() // safe to call more than once and after commit
}

// begin starts the transaction of a conditional write. SQLite has no
// SELECT ... FOR UPDATE: the transaction takes the write lock at BEGIN
// IMMEDIATE instead, so no other writer commits between the version check
// and the write (a deferred transaction would fail its upgrade instead).
func (d *Destination) begin(ctx context.Context) (*condTx, error) {
	if d.d.driverName != "sqlite" {
		tx, err := d.db.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		return &condTx{q: tx, commit: tx.Commit, rollback: func() { _ = tx.Rollback() }}, nil
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		conn.Close()
		return nil, err
	}
	done := false
	end := func(stmt string) error {
		if done {
			return nil
		}
		done = true
		// Not under the caller's context: a cancelled write must still end
		// its transaction, or the connection goes back to the pool inside it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, err := conn.ExecContext(cctx, stmt)
		if err != nil {
			// Discard the connection rather than reuse one in an unknown state.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
		return err
	}
	return &condTx{q: conn, commit: func() error { return end("COMMIT") }, rollback: func() { _ = end("ROLLBACK") }}, nil
}
