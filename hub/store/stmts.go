package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache keeps the statements of the writer's transactions prepared on
// SQLite, where preparing a statement (parsing the SQL, planning it) took
// a tenth of applying a batch: the batch statements are long (hundreds of
// placeholders) and few in shape, so each shape is prepared once per
// connection and then only bound and stepped. The shapes are few because
// IN lists and row lists come in sizes that are powers of two (padKeys,
// rowPieces). PostgreSQL needs none of this: pgx caches statements per
// connection itself, and the statements there take arrays.
//
// A statement whose plan looked at a bound value is planned again at
// its next use with another value: with STAT4, which modernc's SQLite is
// built with, a placeholder compared to an indexed column or giving a
// LIMIT marks the statement so, and the driver clears the bindings after
// each use, which counts as a change. Where that planning is costly (a
// compound SELECT of many sub-selects: blockMembersUpTo) or frequent (the
// change feed's page, the name search: feedPage, namesFrom) the
// placeholder is cast, CAST(? AS TEXT), which the planner does not look
// through: the plan is made once, for any value, as PostgreSQL's generic
// plans are.
//
// The writer pool has one connection, held by the transaction while a
// statement runs, so a statement cannot be prepared on the pool then: one
// seen for the first time runs unprepared and is prepared when its
// transaction ends (end); later transactions find it prepared on their
// connection.
type stmtCache struct {
	db      *sql.DB
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	pending map[string]bool // seen in a transaction, to prepare at its end
	txs     sync.Map        // *sql.Tx begun by begin, not yet ended
}

// maxStmts bounds the cache; a statement beyond it runs unprepared. The
// store's own statements come in a few hundred shapes.
const maxStmts = 2048

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// begin starts a transaction on the cache's database whose statements
// the cache may serve; end must follow its commit or rollback.
func (c *stmtCache) begin(ctx context.Context) (*sql.Tx, error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err == nil {
		c.txs.Store(tx, true)
	}
	return tx, err
}

// end is a no-op on a nil cache (PostgreSQL).
func (c *stmtCache) end(ctx context.Context, tx *sql.Tx) {
	if c == nil {
		return
	}
	c.txs.Delete(tx)
	c.mu.Lock()
	var todo []string
	for q := range c.pending {
		todo = append(todo, q)
	}
	clear(c.pending)
	c.mu.Unlock()
	// Not under mu: preparing waits for the connection, which another
	// transaction may hold while it asks the cache for a statement.
	for _, q := range todo {
		if ctx.Err() != nil {
			return // one seen again is prepared at a later end
		}
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			continue // it keeps running unprepared, where its error shows
		}
		c.mu.Lock()
		if c.m[q] == nil {
			c.m[q], st = st, nil
		}
		c.mu.Unlock()
		if st != nil {
			st.Close()
		}
	}
}

// stmt returns query prepared, bound to tx, or nil when tx is not a
// transaction of begin (a reader's, for one) or query is not prepared yet
// (it is then queued for end, unless the cache is full). The caller
// closes it.
func (c *stmtCache) stmt(ctx context.Context, q queryer, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	tx, ok := q.(*sql.Tx)
	if !ok {
		return nil
	}
	if _, ok := c.txs.Load(tx); !ok {
		return nil
	}
	c.mu.Lock()
	st, ok := c.m[query]
	if !ok && len(c.m)+len(c.pending) < maxStmts {
		c.pending[query] = true
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return tx.StmtContext(ctx, st)
}

func (c *stmtCache) close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = map[string]*sql.Stmt{}
	return errors.Join(errs...)
}

// query runs query on tx, prepared when the cache can.
func (c *stmtCache) query(ctx context.Context, tx queryer, query string, args ...any) (*sql.Rows, func(), error) {
	if st := c.stmt(ctx, tx, query); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, func() { st.Close() }, err
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	return rows, func() {}, err
}

// exec runs statement query on tx, prepared when the cache can.
func (c *stmtCache) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	if st := c.stmt(ctx, tx, query); st != nil {
		defer st.Close()
		_, err := st.ExecContext(ctx, args...)
		return err
	}
	_, err := tx.ExecContext(ctx, query, args...)
	return err
}

// padKeys pads an IN list to the next power of two from 8 by repeating
// its last key, which changes no IN: the list then has one of a few
// lengths, and its statement one of a few shapes.
func padKeys(keys []string) []string {
	if len(keys) == 0 {
		return keys
	}
	return padWith(keys, keys[len(keys)-1])
}

// padWith pads keys as padKeys does, with filler.
func padWith(keys []string, filler string) []string {
	n := 8
	for n < len(keys) {
		n *= 2
	}
	if n == len(keys) {
		return keys
	}
	out := make([]string, n)
	copy(out, keys)
	for i := len(keys); i < n; i++ {
		out[i] = filler
	}
	return out
}

// rowPieces splits n rows into runs whose lengths are powers of two, the
// largest at most limit, in order: a row list cannot be padded (an INSERT
// would write a row twice), so it is cut into shapes instead, at most one
// run of each length below the largest.
func rowPieces(n, limit int) []int {
	top := 1
	for top*2 <= limit {
		top *= 2
	}
	var out []int
	for n > 0 {
		p := top
		for p > n {
			p /= 2
		}
		out = append(out, p)
		n -= p
	}
	return out
}
