package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/crmhub/crmhub/hub/store/sqldb"
)

// Set-based statements. A batch is written and read in a few statements
// over many rows. On SQLite the rows are inlined as parameters ("IN
// (?,?,..)", "VALUES (?,..),(?,..)") in chunks below its parameter limit;
// a statement costs no round trip there. On PostgreSQL each column goes as
// one array parameter ("= ANY(?)", "unnest(?, ?)"): the statement text is
// the same whatever the number of rows, so pgx prepares it once per
// connection instead of once per distinct row count, and a batch is one
// statement, not one per chunk.

// chunk is the IN-list size on SQLite, well below its parameter limit; a
// power of two, as padKeys makes every list.
const chunk = 512

// maxParams bounds the parameters of one SQLite statement (it allows
// 32766).
const maxParams = 8000

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// anyRow reports whether query, a SELECT, finds a row: it reads one at
// most, an index entry where query's WHERE has one.
func anyRow(ctx context.Context, q readQueryer, query string, args ...any) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM (`+query+` LIMIT 1) AS l`, args...).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// queryer is a transaction or a connection pool.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// inList rewrites the one "IN (%s)" of query for n keys and returns the
// query and its key arguments.
func (s *Store) inList(query string, keys []string) (string, []any) {
	if s.pg {
		return s.q(strings.Replace(query, "IN (%s)", "= ANY(?::text[])", 1)), []any{keys}
	}
	keys = padKeys(keys)
	return fmt.Sprintf(query, placeholders(len(keys))), anys(keys)
}

// keyChunks splits keys into the lists one statement takes: all of them
// on PostgreSQL, chunks on SQLite.
func (s *Store) keyChunks(keys []string) [][]string {
	if len(keys) == 0 {
		return nil
	}
	if s.pg {
		return [][]string{keys}
	}
	var out [][]string
	for i := 0; i < len(keys); i += chunk {
		out = append(out, keys[i:min(i+chunk, len(keys))])
	}
	return out
}

// eachChunk runs query (with one "IN (%s)") over keys and calls scan for
// every row.
func (s *Store) eachChunk(ctx context.Context, tx queryer, query string, keys []string, scan func(*sql.Rows) error) error {
	for _, part := range s.keyChunks(keys) {
		q, args := s.inList(query, part)
		if err := s.scanAll(ctx, tx, q, args, scan); err != nil {
			return err
		}
	}
	return nil
}

// scanAll runs query and calls scan for every row.
func (s *Store) scanAll(ctx context.Context, tx queryer, query string, args []any, scan func(*sql.Rows) error) error {
	rows, done, err := s.stmts.query(ctx, tx, query, args...)
	defer done()
	if err != nil {
		return err
	}
	return sqldb.Each(rows, scan)
}

// execChunk runs statement query (with one "IN (%s)") over keys.
func (s *Store) execChunk(ctx context.Context, tx *sql.Tx, query string, keys []string) error {
	for _, part := range s.keyChunks(keys) {
		q, args := s.inList(query, part)
		if err := s.stmts.exec(ctx, tx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// insertRows runs head + rows + tail, where rows becomes a row source
// with columns column1, column2, ...: "VALUES (?,..),(?,..)" on SQLite,
// "SELECT * FROM unnest(?::text[], ..) AS u(column1, ..)" on PostgreSQL.
// types lists the PostgreSQL types of the columns, comma-separated. It
// works for "INSERT INTO t (..) " + rows, "UPDATE t SET .. FROM (" + rows
// + ") AS v WHERE ..", "(a, b) IN (" + rows + ")" and, in queryRows,
// "SELECT .. FROM (" + rows + ") AS v JOIN t ON ..".
//
// On SQLite an INSERT or UPDATE becomes INSERT OR IGNORE or UPDATE OR
// IGNORE: a statement writing many rows that could fail on a constraint
// half-way gets a statement journal, a copy of every page it touches,
// which cost a tenth of applying a batch. A failing statement rolls back
// the whole transaction here anyway, the rows written never conflict
// (their keys were read or deleted before), and an upsert's DO UPDATE
// would still abort, so upserts are split into an INSERT of the new rows
// and an UPDATE of the stored ones on SQLite.
func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, head, types, tail string, rows [][]any) error {
	if !s.pg {
		if h, ok := strings.CutPrefix(head, "INSERT INTO "); ok && !strings.Contains(tail, "DO UPDATE") {
			head = "INSERT OR IGNORE INTO " + h
		} else if h, ok := strings.CutPrefix(head, "UPDATE "); ok {
			head = "UPDATE OR IGNORE " + h
		}
	}
	for _, st := range s.rowStatements(head, types, tail, rows) {
		if err := s.stmts.exec(ctx, tx, st.query, st.args...); err != nil {
			return err
		}
	}
	return nil
}

// queryRows is insertRows for a query: head + rows + tail, scan called for
// every row of the result.
func (s *Store) queryRows(ctx context.Context, tx *sql.Tx, head, types, tail string, rows [][]any, scan func(*sql.Rows) error) error {
	for _, st := range s.rowStatements(head, types, tail, rows) {
		if err := s.scanAll(ctx, tx, st.query, st.args, scan); err != nil {
			return err
		}
	}
	return nil
}

type statement struct {
	query string
	args  []any
}

// rowStatements builds the statements of insertRows and queryRows.
func (s *Store) rowStatements(head, types, tail string, rows [][]any) []statement {
	if len(rows) == 0 {
		return nil
	}
	cols := strings.Split(types, ",")
	if s.pg {
		var q strings.Builder
		q.WriteString(head)
		q.WriteString("SELECT * FROM unnest(")
		args := make([]any, len(cols))
		for c, t := range cols {
			if c > 0 {
				q.WriteString(", ")
			}
			q.WriteString("?::" + t + "[]")
			col := make([]any, len(rows))
			for i, r := range rows {
				col[i] = r[c]
			}
			args[c] = col
		}
		q.WriteString(") AS u(")
		for c := range cols {
			if c > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "column%d", c+1)
		}
		q.WriteString(")")
		q.WriteString(tail)
		return []statement{{s.q(q.String()), args}}
	}
	var out []statement
	tuple := "(" + placeholders(len(cols)) + ")"
	i := 0
	for _, n := range rowPieces(len(rows), maxParams/len(cols)) {
		part := rows[i : i+n]
		i += n
		args := make([]any, 0, len(part)*len(cols))
		var q strings.Builder
		q.WriteString(head)
		q.WriteString("VALUES ")
		for j, r := range part {
			if j > 0 {
				q.WriteByte(',')
			}
			q.WriteString(tuple)
			args = append(args, r...)
		}
		q.WriteString(tail)
		out = append(out, statement{q.String(), args})
	}
	return out
}
