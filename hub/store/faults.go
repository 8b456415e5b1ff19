package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/crmhub/crmhub/hub"
)

// SQLite primary result codes that say the database, not the data, failed.
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteNoMem    = 7
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
	sqliteProtocol = 15
)

// infra wraps err with hub.ErrUnavailable when it is a failure of the
// database rather than of the records (see isInfra); nil stays nil.
func infra(err error) error {
	if err == nil || errors.Is(err, hub.ErrUnavailable) || !isInfra(err) {
		return err
	}
	return fmt.Errorf("%w: %w", hub.ErrUnavailable, err)
}

// isInfra tells infrastructure failures (read-only or full database, a lock
// held too long, a lost connection, a server shutting down) from errors a
// record causes (a constraint, a value the column refuses).
func isInfra(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteReadOnly, sqliteIOErr, sqliteFull, sqliteCantOpen, sqliteProtocol:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),       // insufficient resources: disk full, out of memory, too many connections
			strings.HasPrefix(pe.Code, "57P"),      // admin shutdown (pg_terminate_backend), crash shutdown, cannot connect now
			pe.Code == "55P03",                     // lock not available (lock_timeout)
			pe.Code == "57014",                     // query canceled (statement_timeout)
			pe.Code == "25006",                     // read-only transaction (a standby, default_transaction_read_only)
			pe.Code == "40001", pe.Code == "40P01": // serialization failure, deadlock: retry
			return true
		}
		return false
	}
	if pgconn.Timeout(err) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	// pgx reports a connection the server closed this way.
	return strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}
