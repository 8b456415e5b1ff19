package store

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// maxReadStmts bounds the read statement cache: the read queries have a
// few shapes each (a union of one part per source record of a customer),
// so a bound is only a guard against a shape per request.
const maxReadStmts = 512

// readStmts keeps the API's read statements prepared on the read pool.
// Parsing and planning a statement took over 40% of the CPU of GET
// /v1/customers/{id} on SQLite (`crmhub bench api`); a statement prepared
// once per query text and connection is reused by every read transaction
// (database/sql keeps it per connection).
type readStmts struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
	n  atomic.Int32
}

func (c *readStmts) get(ctx context.Context, query string) *sql.Stmt {
	if c.db == nil {
		return nil
	}
	c.mu.Lock()
	st, ok := c.m[query]
	c.mu.Unlock()
	if ok || c.n.Load() >= maxReadStmts {
		return st
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // the plain query reports the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[query]; ok {
		st.Close()
		return old
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	c.n.Add(1)
	return st
}

func (c *readStmts) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
	return nil
}

// cachedTx is a read transaction whose queries run as cached prepared
// statements.
type cachedTx struct {
	*sql.Tx
	c *readStmts
}

func (t cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.c.get(ctx, query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.c.get(ctx, query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
