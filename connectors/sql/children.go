package sqlconn

import (
	"context"
	"fmt"
	"strings"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// With cursor polling, a change in a child table does not move the parent's
// cursor. Each child with its own cursor column is polled once the parents
// are caught up: the parents of child rows whose cursor moved past the
// highest value seen are read again, with their current children. A
// deleted child row leaves no cursor behind, so deletes are found only by
// change_detection: hash, which compares each parent's gathered content.

// initChildCursors starts each child cursor at the child table's current
// highest value: the parents' snapshot reads every child as it is then,
// so only later changes need to republish a parent.
func (s *Source) initChildCursors(ctx context.Context, e *entity) error {
	if e.cfg.ChangeDetection == "hash" || e.cfg.ChangeDetection == "logical" || len(e.cfg.Children) == 0 {
		return nil
	}
	e.childAfter = make([]any, len(e.cfg.Children))
	if saved := s.pos.Children[e.cfg.Name]; len(saved) == len(e.cfg.Children) {
		// Where the last acknowledged poll stood.
		for i, p := range saved {
			v, err := p.value()
			if err != nil {
				return fmt.Errorf("sql: entity %s: children %s: position: %w", e.cfg.Name, e.cfg.Children[i].Name, err)
			}
			e.childAfter[i] = v
		}
		return nil
	}
	for i, c := range e.cfg.Children {
		if c.Cursor == "" {
			continue
		}
		q := "SELECT MAX(" + s.d.rawPrefix + "c." + s.d.ident(c.Cursor) + ") FROM " + s.d.table(c.Table) + " c"
		var v any
		if err := s.db.QueryRowContext(ctx, q).Scan(&v); err != nil {
			return fmt.Errorf("sql: entity %s: children %s: highest cursor: %w", e.cfg.Name, c.Name, err)
		}
		e.childAfter[i] = ownValue(v)
	}
	return nil
}

// pollChildren returns the parents of child rows changed since the last
// poll, read again with all their children, at the current position.
func (s *Source) pollChildren(ctx context.Context, e *entity) ([]sdk.Record, error) {
	if e.childAfter == nil {
		return nil, nil
	}
	parents := map[string]any{}
	next := make([]any, len(e.childAfter))
	copy(next, e.childAfter)
	for i, c := range e.cfg.Children {
		if c.Cursor == "" {
			continue
		}
		cur := s.d.rawPrefix + "c." + s.d.ident(c.Cursor)
		q := "SELECT " + s.d.rawPrefix + "c." + s.d.ident(c.ParentKey) + ", " + cur + " FROM " + s.d.table(c.Table) + " c WHERE "
		var args []any
		if e.childAfter[i] == nil {
			q += "c." + s.d.ident(c.Cursor) + " IS NOT NULL"
		} else {
			q += "c." + s.d.ident(c.Cursor) + " > " + (&placeholders{d: s.d}).next()
			args = append(args, e.childAfter[i])
		}
		rows, err := s.db.QueryContext(ctx, q+" ORDER BY "+cur, args...)
		if err != nil {
			return nil, fmt.Errorf("sql: entity %s: children %s: poll: %w", e.cfg.Name, c.Name, err)
		}
		for rows.Next() {
			var pk, cv any
			if err := rows.Scan(&pk, &cv); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sql: entity %s: children %s: poll: %w", e.cfg.Name, c.Name, err)
			}
			pk = ownValue(pk)
			parents[idString(pk, kindPlain)] = pk
			next[i] = ownValue(cv)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sql: entity %s: children %s: poll: %w", e.cfg.Name, c.Name, err)
		}
	}
	if len(parents) == 0 {
		return nil, nil
	}
	keys := make([]any, 0, len(parents))
	for _, k := range parents {
		keys = append(keys, k)
	}
	// In chunks, so the IN list stays within every database's limit on
	// bound parameters.
	var recs []sdk.Record
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), maxInList)]
		keys = keys[len(chunk):]
		page, err := s.readParents(ctx, e, chunk)
		if err != nil {
			// childAfter has not moved: the next poll tries again.
			return nil, err
		}
		recs = append(recs, page...)
	}
	e.childAfter = next
	saved := make([]pval, len(next))
	for i, v := range next {
		saved[i] = toPval(v, kindPlain)
	}
	if s.pos.Children == nil {
		s.pos.Children = map[string][]pval{}
	}
	s.pos.Children[e.cfg.Name] = saved
	at := s.pos.encode()
	for i := range recs {
		recs[i].Position = at
		recs[i].Meta = map[string]string{"reason": "child changed"}
	}
	return recs, nil
}

// readParents reads the parents with the given key values, in key order,
// with their children.
func (s *Source) readParents(ctx context.Context, e *entity, keys []any) ([]sdk.Record, error) {
	src := strings.TrimRight(strings.TrimSpace(e.cfg.Query), "; \n\t")
	if e.cfg.Table != "" {
		src = "SELECT * FROM " + s.d.table(e.cfg.Table)
	}
	k := "t." + s.d.ident(e.cfg.Key)
	p := &placeholders{d: s.d}
	ph := make([]string, len(keys))
	for i := range ph {
		ph[i] = p.next()
	}
	q := "SELECT t.*, " + s.d.rawPrefix + k + " AS " + s.d.ident(keyAlias) + " FROM (" + src + ") t WHERE " + k +
		" IN (" + strings.Join(ph, ", ") + ") ORDER BY " + k
	rows, err := s.db.QueryContext(ctx, q, keys...)
	if err != nil {
		return nil, fmt.Errorf("sql: entity %s: read parents of changed children: %w", e.cfg.Name, err)
	}
	page, pkeys, err := s.scanPage(e, rows)
	rows.Close()
	if err != nil {
		return nil, err
	}
	if err := s.attachChildren(ctx, e, page, pkeys); err != nil {
		return nil, err
	}
	return page, nil
}
