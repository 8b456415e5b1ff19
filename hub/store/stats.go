package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SQLite plans a query from the statistics ANALYZE keeps in sqlite_stat1;
// without them it assumes every index is equally selective, and chose
// records_lookup (entity = 'customer': most of the store) over
// records_golden (a few rows per golden) for `entity = ? AND golden_id IN
// (...)`. A store starts empty and grows to millions of rows, so the
// statistics are taken when it opens and again as it grows (refreshStats),
// as SQLite recommends for a long-lived connection: `PRAGMA
// optimize=0x10002` at open and periodically.
//
// PostgreSQL keeps statistics through autovacuum's ANALYZE, when it runs:
// a server with autovacuum off (this project's CI machine has it so) never
// analyzes the store's tables, and even with it on a first sync outgrows
// the statistics between two of its visits (autovacuum_naptime, a tenth
// of the table changed). Plans made from none read the value facts of 512
// customers in 87 ms instead of 16 and kept a count of parked records
// planned while `records` was small running for minutes (bench sync on
// PostgreSQL, 2026-12-06). So the store analyzes, at the same checks, the
// tables whose changes since their last ANALYZE (by anyone: autovacuum's
// count too) exceed pgAnalyzeRows plus the rows they held then, that is,
// each time one about doubles, and PostgreSQL re-plans the prepared
// statements that use them.

// sqliteAnalysisLimit bounds one ANALYZE to about this many entries of
// each index (PRAGMA analysis_limit on the writer), so refreshing the
// statistics of a store of millions of rows holds the write lock for
// milliseconds, not the seconds a full scan of every index takes. The
// estimates it gives are rougher where an index's first column has few
// values (records_lookup's entity, records_linked's ref_system): ANALYZE
// then samples this many entries per value and reports about that many
// rows for each, far fewer than the store holds. The queries that must
// not fall for it name their index (byGolden) or have one the
// statistics cannot make worse (TestSQLiteStatsPlans). 2000 is what
// SQLite itself uses when PRAGMA optimize limits ANALYZE (mask 0x10).
const sqliteAnalysisLimit = 2000

// defaultStatsEvery is how many applied events pass between two
// statistics checks. A check that finds nothing to change costs a pass
// over the tables' sizes and an ANALYZE of the empty ones, 0.6-0.9 ms at
// 200,000 records (a throwaway measurement); SQLite re-analyzes a table
// only when it has no statistics yet or its size moved about tenfold
// since (SQLite 3.54: at 10 times the rows, or a fifteenth).
const defaultStatsEvery = 10000

// statsReloadView is created and dropped in the transaction that changed
// the statistics: a schema change makes every connection, the readers
// included, load the schema and the statistics again before its next
// statement. ANALYZE alone reloads them only on the connection that ran
// it, and a reader kept its plans from the empty store for its lifetime.
const statsReloadView = "crmhub_stats_reload"

// pgAnalyzeRows is the least number of rows changed since a table's last
// ANALYZE for the store to analyze it again (autovacuum's own
// threshold is 50 plus a tenth of the table).
const pgAnalyzeRows = 1000

// pgAnalyzeLockTimeout bounds the wait for a table another ANALYZE or a
// VACUUM holds (autovacuum, another instance): that one refreshes it.
const pgAnalyzeLockTimeout = "1s"

// refreshStats analyzes the tables PRAGMA optimize finds stale and returns
// how many it analyzed. The check uses mask 0x10003: every table (0x10000),
// not only those this connection's queries used (the API's reads run on
// the readers), with the debug bit (0x1), which lists the ANALYZE
// statements optimize would run instead of running them, so they run here
// in one transaction with the reload. On PostgreSQL, refreshPGStats.
func (s *Store) refreshStats(ctx context.Context) (int, error) {
	if s.pg {
		return s.refreshPGStats(ctx)
	}
	start := time.Now()
	listed, err := s.strings(ctx, s.db, `PRAGMA optimize=0x10003`)
	if err != nil {
		return 0, fmt.Errorf("sqlite statistics: check: %w", err)
	}
	var stmts []string
	for _, st := range listed {
		// Only ANALYZE: another optimization a later SQLite lists is
		// not run unread.
		if strings.HasPrefix(st, "ANALYZE ") {
			stmts = append(stmts, st)
		}
	}
	if len(stmts) == 0 {
		return 0, nil
	}
	changed := false
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		before, err := statsDigest(ctx, tx)
		if err != nil {
			return err
		}
		for _, st := range stmts {
			if _, err := tx.ExecContext(ctx, st); err != nil {
				return fmt.Errorf("%s: %w", st, err)
			}
		}
		after, err := statsDigest(ctx, tx)
		if err != nil {
			return err
		}
		// An empty table has no statistics to write and is listed at
		// every check: analyzing it changes nothing to reload.
		if changed = after != before; !changed {
			return nil
		}
		for _, ddl := range []string{`CREATE VIEW ` + statsReloadView + ` AS SELECT 1`, `DROP VIEW ` + statsReloadView} {
			if _, err := tx.ExecContext(ctx, ddl); err != nil {
				return fmt.Errorf("reload: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite statistics: %w", err)
	}
	if !changed {
		return 0, nil
	}
	s.statsRefreshed("sqlite", len(stmts), start)
	return len(stmts), nil
}

// pgTablesDue lists the tables refreshPGStats analyzes, given
// pgAnalyzeRows.
const pgTablesDue = `SELECT relname FROM pg_stat_user_tables
WHERE schemaname = current_schema() AND n_mod_since_analyze > ? + (n_live_tup - n_mod_since_analyze) ORDER BY relname`

// refreshPGStats analyzes the store's tables in the current schema that
// changed by more than pgAnalyzeRows plus the rows they held at their
// last ANALYZE (n_mod_since_analyze, which the server's activity
// statistics keep with track_counts, on by default; the rows held then
// are about the live rows less those changes, exactly so while a table
// only grows), one transaction each so that a table busy under another
// ANALYZE is skipped after pgAnalyzeLockTimeout without holding up the
// others.
func (s *Store) refreshPGStats(ctx context.Context) (int, error) {
	start := time.Now()
	tables, err := s.strings(ctx, s.db, pgTablesDue, pgAnalyzeRows)
	if err != nil {
		return 0, fmt.Errorf("postgres statistics: check: %w", err)
	}
	n := 0
	for _, t := range tables {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '`+pgAnalyzeLockTimeout+`'`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `ANALYZE `+pgx.Identifier{t}.Sanitize())
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return n, fmt.Errorf("postgres statistics: analyze %s: %w", t, err)
			}
			// Another ANALYZE or a VACUUM holds it: it gets statistics
			// from that one, and the next check sees whether not. Any
			// other failure (a permission, a dropped table, the server)
			// leaves the planner without statistics until someone looks,
			// so it is a warning.
			if lockBusy(err) {
				s.log.Debug("postgres statistics: table busy, skipped", "table", t)
			} else {
				s.log.Warn("postgres statistics: analyze failed, table skipped", "table", t, "err", err)
			}
			continue
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	s.statsRefreshed("postgres", n, start)
	return n, nil
}

// lockBusy tells a lock_timeout (SQLSTATE 55P03) from other errors.
func lockBusy(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// statsRefreshed counts and logs a refresh begun at start that analyzed
// tables tables of database db.
func (s *Store) statsRefreshed(db string, tables int, start time.Time) {
	took := time.Since(start)
	if s.m != nil {
		s.m.statsTables.Add(float64(tables))
		s.m.statsDuration.Observe(took.Seconds())
	}
	s.log.Info(db+" statistics refreshed", "tables", tables, "took", took.Round(time.Millisecond))
}

// statsDigest is the content of sqlite_stat1, which exists once the store
// was analyzed; "" before.
func statsDigest(ctx context.Context, tx *sql.Tx) (string, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'`).Scan(&n); err != nil {
		return "", fmt.Errorf("statistics: %w", err)
	}
	if n == 0 {
		return "", nil
	}
	var d sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT group_concat(tbl || ' ' || COALESCE(idx, '') || ' ' || stat, char(10))
FROM (SELECT tbl, idx, stat FROM sqlite_stat1 ORDER BY tbl, idx)`).Scan(&d); err != nil {
		return "", fmt.Errorf("statistics: %w", err)
	}
	return d.String, nil
}

// appliedForStats counts n applied events towards the next statistics
// check and runs it when due; the caller holds applyMu, so the check
// never waits for the writer. A failed check is logged, not returned: the
// batch committed, and the next check tries again.
func (s *Store) appliedForStats(ctx context.Context, n int) {
	if s.statsEvery <= 0 {
		return
	}
	s.sinceStats += n
	if s.sinceStats < s.statsEvery {
		return
	}
	s.sinceStats = 0
	if _, err := s.refreshStats(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("store statistics not refreshed", "err", err)
	}
}
