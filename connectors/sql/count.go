package sqlconn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Reconciliation: Count and Keys answer from the same table or query and
// with the same soft-delete semantics as Read, so their numbers compare
// with what the hub holds. They only read s.db and each entity's config and
// statements, all fixed at Open, so they are safe beside Read.

var _ sdk.Reconciler = (*Source)(nil)

// reconcileQueries are the statements of one entity for reconciliation.
type reconcileQueries struct {
	count     string // COUNT(*), or per soft-delete value
	firstKey  string // the smallest key: tells the key's type
	keysFirst string // keys from the start
	keysAfter string // keys after a bound key
}

func buildReconcileQueries(d dialect, e EntityConfig) reconcileQueries {
	src := "(SELECT * FROM " + d.table(e.Table) + ")"
	if e.Table == "" {
		src = "(" + trimQuery(e.Query) + ")"
	}
	from := " FROM " + src + " t"
	k := "t." + d.ident(e.Key)
	var q reconcileQueries
	sel := "SELECT " + d.rawPrefix + k
	if e.Deleted == "" {
		q.count = "SELECT COUNT(*)" + from
	} else {
		// The deleted column's values are grouped and judged in Go by the
		// reader's own rule (truthy), which no portable SQL predicate
		// matches for booleans, numbers, strings and timestamps alike.
		del := "t." + d.ident(e.Deleted)
		q.count = "SELECT " + del + ", COUNT(*)" + from + " GROUP BY " + del
		sel += ", " + del
	}
	p := &placeholders{d: d}
	q.firstKey = "SELECT " + d.rawPrefix + k + from + " ORDER BY " + k + " LIMIT " + p.next()
	p = &placeholders{d: d}
	q.keysFirst = sel + from + " ORDER BY " + k + " LIMIT " + p.next()
	p = &placeholders{d: d}
	q.keysAfter = sel + from + " WHERE " + k + " > " + p.next() + " ORDER BY " + k + " LIMIT " + p.next()
	return q
}

func (s *Source) reconcileEntity(entity string) (*entity, error) {
	if s.db == nil {
		return nil, errors.New("sql: reconcile before Open")
	}
	for _, e := range s.entities {
		if e.cfg.Name == entity {
			return e, nil
		}
	}
	return nil, fmt.Errorf("sql: entity %q is not configured: %w", entity, sdk.ErrNotSupported)
}

// Count counts the entity's live rows: all of them, less those whose
// soft-delete column is truthy.
func (s *Source) Count(ctx context.Context, entity string) (int64, error) {
	e, err := s.reconcileEntity(entity)
	if err != nil {
		return 0, err
	}
	q := buildReconcileQueries(s.d, e.cfg)
	if e.cfg.Deleted == "" {
		var n int64
		if err := s.db.QueryRowContext(ctx, q.count).Scan(&n); err != nil {
			return 0, fmt.Errorf("sql: entity %s: count: %w", entity, err)
		}
		return n, nil
	}
	rows, err := s.db.QueryContext(ctx, q.count)
	if err != nil {
		return 0, fmt.Errorf("sql: entity %s: count: %w", entity, err)
	}
	defer rows.Close()
	var live int64
	for rows.Next() {
		var (
			del any
			n   int64
		)
		if err := rows.Scan(&del, &n); err != nil {
			return 0, fmt.Errorf("sql: entity %s: count: %w", entity, err)
		}
		if !truthy(del) {
			live += n
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sql: entity %s: count: %w", entity, err)
	}
	return live, nil
}

// Keys lists live keys in the database's key order, spelled as Read
// spells record ids. Soft-deleted rows are skipped, so a page is filled
// from as many rows as it takes.
func (s *Source) Keys(ctx context.Context, entity, after string, limit int) ([]string, error) {
	e, err := s.reconcileEntity(entity)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	q := buildReconcileQueries(s.d, e.cfg)
	var bound any
	if after != "" {
		if bound, err = s.keyBound(ctx, q, after); err != nil {
			return nil, fmt.Errorf("sql: entity %s: keys after %q: %w", entity, after, err)
		}
	}
	out := make([]string, 0, limit)
	for len(out) < limit {
		want := limit - len(out)
		var rows *sql.Rows
		if bound == nil {
			rows, err = s.db.QueryContext(ctx, q.keysFirst, want)
		} else {
			rows, err = s.db.QueryContext(ctx, q.keysAfter, bound, want)
		}
		if err != nil {
			return nil, fmt.Errorf("sql: entity %s: keys: %w", entity, err)
		}
		n, last, err := s.scanKeys(rows, e.cfg.Deleted != "", &out)
		if err != nil {
			return nil, fmt.Errorf("sql: entity %s: keys: %w", entity, err)
		}
		if n < want {
			break // the end of the table
		}
		bound = last
	}
	return out, nil
}

// scanKeys appends the live keys of rows to out and returns how many rows
// it saw and the last raw key, to continue after.
func (s *Source) scanKeys(rows *sql.Rows, withDeleted bool, out *[]string) (int, any, error) {
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return 0, nil, err
	}
	kind := classify(cols[0].DatabaseTypeName())
	var (
		n        int
		key, del any
		last     any
	)
	dest := []any{&key}
	if withDeleted {
		dest = append(dest, &del)
	}
	for rows.Next() {
		key, del = nil, nil
		if err := rows.Scan(dest...); err != nil {
			return 0, nil, err
		}
		n++
		last = key
		if b, ok := key.([]byte); ok {
			last = append([]byte(nil), b...) // the driver may reuse the buffer
		}
		if !truthy(del) {
			*out = append(*out, idString(key, kind))
		}
	}
	return n, last, rows.Err()
}

// keyBound turns a key spelled as a record id back into a value of the key
// column's type, the way the reader binds its position: the smallest key
// tells the type.
func (s *Source) keyBound(ctx context.Context, q reconcileQueries, after string) (any, error) {
	bind, err := s.keyBinder(ctx, q)
	if err != nil {
		return nil, err
	}
	return bind(after)
}

// keyBinder is keyBound for many ids: one query for the key's type.
func (s *Source) keyBinder(ctx context.Context, q reconcileQueries) (func(string) (any, error), error) {
	rows, err := s.db.QueryContext(ctx, q.firstKey, 1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	kind := classify(cols[0].DatabaseTypeName())
	var v any
	if rows.Next() {
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	p := toPval(v, kind)
	if p.T == "null" {
		p.T = "str" // an empty table: any bound returns nothing
	}
	return func(id string) (any, error) {
		b := p
		b.V = id
		return b.value()
	}, nil
}

// trimQuery is the query as buildQueries wraps it.
func trimQuery(q string) string { return strings.TrimRight(strings.TrimSpace(q), "; \n\t") }
