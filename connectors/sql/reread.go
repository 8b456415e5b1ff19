package sqlconn

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Rows whose version moved behind the position: reconciliation lists each
// cursor entity's rows behind the acknowledged position with their
// versions (VersionsBehind), compares them with the versions the hub holds,
// and asks for the rows whose version is newer to be read again (Reread).
// The overlap window catches a row written a moment late; this catches one
// written with a time far behind the position (a write-back touched with a
// business time, a back-dated import), whatever the distance.

var _ sdk.VersionReconciler = (*Source)(nil)

// rereadBatch bounds the ids read back in one query.
const rereadBatch = 500

// VersionsBehind implements sdk.VersionReconciler for entities with a
// timestamp cursor: it reads the key, cursor (and soft-delete) columns in
// key order and keeps the live rows whose cursor is before the position
// the hub acknowledged (rows after it are still to be read by polling).
func (s *Source) VersionsBehind(ctx context.Context, entity, after string, limit int) ([]string, []time.Time, string, error) {
	e, err := s.reconcileEntity(entity)
	if err != nil {
		return nil, nil, "", err
	}
	if e.cfg.Cursor == "" || e.cfg.ChangeDetection != "" && e.cfg.ChangeDetection != "cursor" {
		return nil, nil, "", fmt.Errorf("sql: entity %s has no cursor to fall behind: %w", entity, sdk.ErrNotSupported)
	}
	var pos position
	if b := s.acked.Load(); b != nil && len(*b) > 0 {
		if err := json.Unmarshal(*b, &pos); err != nil {
			return nil, nil, "", fmt.Errorf("sql: entity %s: decode the acknowledged position: %w", entity, err)
		}
	}
	ep := pos.Entities[entity]
	if ep.Cursor == nil || limit <= 0 {
		return nil, nil, "", nil // nothing acknowledged yet: nothing is behind
	}
	posAt, ok := cursorAt(*ep.Cursor, s.loc)
	if !ok {
		return nil, nil, "", fmt.Errorf("sql: entity %s: cursor %s is not a timestamp: %w", entity, e.cfg.Cursor, sdk.ErrNotSupported)
	}
	rq := buildReconcileQueries(s.d, e.cfg)
	var bound any
	if after != "" {
		if bound, err = s.keyBound(ctx, rq, after); err != nil {
			return nil, nil, "", fmt.Errorf("sql: entity %s: versions after %q: %w", entity, after, err)
		}
	}
	first, next := versionQueries(s.d, e.cfg)
	var rows *sql.Rows
	if bound == nil {
		rows, err = s.db.QueryContext(ctx, first, limit)
	} else {
		rows, err = s.db.QueryContext(ctx, next, bound, limit)
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("sql: entity %s: versions: %w", entity, err)
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, nil, "", fmt.Errorf("sql: entity %s: versions: %w", entity, err)
	}
	kk, ck := classify(cols[0].DatabaseTypeName()), classify(cols[1].DatabaseTypeName())
	tk := ck
	if tk == kindPlain {
		tk = kindTimeNoTZ // text timestamps (SQLite) carry no zone, as in readPage
	}
	var (
		ids      []string
		versions []time.Time
		last     string
		n        int
		key, cur any
		del      any
	)
	dest := []any{&key, &cur}
	if e.cfg.Deleted != "" {
		dest = append(dest, &del)
	}
	for rows.Next() {
		key, cur, del = nil, nil, nil
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, "", fmt.Errorf("sql: entity %s: versions: %w", entity, err)
		}
		n++
		last = idString(key, kk)
		if truthy(del) || cur == nil {
			continue
		}
		at, ok := cursorAt(toPval(cur, ck), s.loc)
		if !ok || !at.Before(posAt) {
			continue
		}
		v, ok := toTime(cur, tk, s.loc)
		if !ok {
			continue
		}
		ids, versions = append(ids, last), append(versions, v)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, "", fmt.Errorf("sql: entity %s: versions: %w", entity, err)
	}
	if n < limit {
		last = ""
	}
	return ids, versions, last, nil
}

// versionQueries select key, cursor (and the soft-delete column) in key
// order, from the first key or after a bound one.
func versionQueries(d dialect, e EntityConfig) (first, next string) {
	src := "(SELECT * FROM " + d.table(e.Table) + ")"
	if e.Table == "" {
		src = "(" + trimQuery(e.Query) + ")"
	}
	k := "t." + d.ident(e.Key)
	sel := "SELECT " + d.rawPrefix + k + ", " + d.rawPrefix + "t." + d.ident(e.Cursor)
	if e.Deleted != "" {
		sel += ", t." + d.ident(e.Deleted)
	}
	from := " FROM " + src + " t"
	p := &placeholders{d: d}
	first = sel + from + " ORDER BY " + k + " LIMIT " + p.next()
	p = &placeholders{d: d}
	next = sel + from + " WHERE " + k + " > " + p.next() + " ORDER BY " + k + " LIMIT " + p.next()
	return first, next
}

// Reread queues ids of entity to be handed out again at the next Read.
func (s *Source) Reread(_ context.Context, entity string, ids []string) error {
	if _, err := s.reconcileEntity(entity); err != nil {
		return err
	}
	s.rereadMu.Lock()
	defer s.rereadMu.Unlock()
	if s.reread == nil {
		s.reread = map[string][]string{}
	}
	s.reread[entity] = append(s.reread[entity], ids...)
	return nil
}

// readRereads hands out the next queued ids of one entity, read by key
// with their children, at the position as it stands.
func (s *Source) readRereads(ctx context.Context, n int) ([]sdk.Record, error) {
	s.rereadMu.Lock()
	var (
		e   *entity
		ids []string
	)
	for _, x := range s.entities {
		if q := s.reread[x.cfg.Name]; len(q) > 0 {
			k := min(len(q), n, rereadBatch)
			e, ids = x, q[:k:k]
			s.reread[x.cfg.Name] = q[k:]
			break
		}
	}
	s.rereadMu.Unlock()
	if e == nil {
		return nil, nil
	}
	rq := buildReconcileQueries(s.d, e.cfg)
	bind, err := s.keyBinder(ctx, rq)
	if err != nil {
		return nil, fmt.Errorf("sql: entity %s: re-read: %w", e.cfg.Name, err)
	}
	args := make([]any, 0, len(ids))
	for _, id := range ids {
		v, err := bind(id)
		if err != nil {
			return nil, fmt.Errorf("sql: entity %s: re-read %q: %w", e.cfg.Name, id, err)
		}
		args = append(args, v)
	}
	rows, err := s.db.QueryContext(ctx, byKeysQuery(s.d, e.cfg, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("sql: entity %s: re-read: %w", e.cfg.Name, err)
	}
	page, _, err := s.gatherPage(ctx, e, rows)
	if err != nil {
		return nil, err
	}
	at := s.pos.encode()
	for i := range page {
		page[i].Position = at
		page[i].Meta = map[string]string{"reason": "reconcile: version moved behind the position"}
	}
	if len(page) == 0 {
		// Gone meanwhile: the next key scan or reconciliation tells.
		return s.readRereads(ctx, n)
	}
	return page, nil
}

// byKeysQuery selects the rows of n keys, the key repeated last (as
// scanPage reads it).
func byKeysQuery(d dialect, e EntityConfig, n int) string {
	src := strings.TrimRight(strings.TrimSpace(e.Query), "; \n\t")
	if e.Table != "" {
		src = "SELECT * FROM " + d.table(e.Table)
	}
	k := "t." + d.ident(e.Key)
	p := &placeholders{d: d}
	ph := make([]string, n)
	for i := range ph {
		ph[i] = p.next()
	}
	return "SELECT t.*, " + d.rawPrefix + k + " AS " + d.ident(keyAlias) + " FROM (" + src + ") t WHERE " + k +
		" IN (" + strings.Join(ph, ", ") + ") ORDER BY " + k
}
