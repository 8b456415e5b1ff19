package store

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
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
	db      *sql.DB
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	pending map[string]bool
	n       atomic.Int32
	wg      sync.WaitGroup
}

// get returns the prepared statement of query, or nil while there is none:
// the caller then runs the query plainly. A statement is prepared in the
// background, never in the caller's goroutine: preparing on the pool needs
// a free connection, and a caller holds one in its read transaction, so
// with every connection held by such callers it would wait for ever.
func (c *readStmts) get(query string) *sql.Stmt {
	if c.db == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if c.pending[query] || c.n.Load() >= maxReadStmts {
		return nil
	}
	if c.pending == nil {
		c.pending = map[string]bool{}
	}
	c.pending[query] = true
	c.wg.Add(1)
	go c.prepare(query)
	return nil
}

func (c *readStmts) prepare(query string) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := c.db.PrepareContext(ctx, query)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, query)
	if err != nil {
		return // the plain query goes on, and reports any error itself
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	c.n.Add(1)
}

func (c *readStmts) close() error {
	c.wg.Wait()
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
	if st := t.c.get(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.c.get(query); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
