package sqlconn

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// hashState is what a hash-mode entity keeps between passes: about 16
// bytes plus the key text per row in memory. With state_dir it is also
// saved at the end of each pass that published something (hashstate.go),
// so a restart publishes only the rows changed or deleted while crmhub was
// stopped; without it a restart finds every row new and publishes it once
// more, and keys deleted meanwhile are not known.
type hashState struct {
	rows   map[string]hashRow // by record ID
	gen    uint32             // the pass running, or the last one
	active bool               // a pass is paging through the table
	after  any                // the last key of the pass's previous page
	done   time.Time          // when the last pass ended
	ver    uint32             // the saved state version rows started from (0: none)
	dirty  bool               // the running pass published something
}

type hashRow struct {
	sum uint64
	gen uint32 // the last pass that saw the key
}

// readHash pages through e in key order while a pass is due or running and
// returns the first page with something to publish: rows that are new or
// whose content hash changed, and, at the end of a pass, deletes for the
// keys the pass did not see. A pass is restarted from the first key, so an
// insert whose key sorts before keys already read is found by the next one.
func (s *Source) readHash(ctx context.Context, e *entity, n int) ([]sdk.Record, error) {
	h := &e.hash
	if !h.active {
		if !h.done.IsZero() && time.Since(h.done) < time.Duration(e.cfg.RescanInterval) {
			return nil, nil
		}
		if h.rows == nil {
			h.rows = map[string]hashRow{}
		}
		h.active, h.after, h.dirty = true, nil, false
		h.gen++
	}
	for {
		var (
			rows *sql.Rows
			err  error
		)
		if h.after == nil {
			rows, err = s.db.QueryContext(ctx, e.q.first, n)
		} else {
			rows, err = s.db.QueryContext(ctx, e.q.next, h.after, n)
		}
		if err != nil {
			return nil, fmt.Errorf("sql: entity %s: hash pass: %w", e.cfg.Name, err)
		}
		page, keys, err := s.gatherPage(ctx, e, rows)
		if err != nil {
			return nil, err
		}
		at := s.pos.encode()
		var out []sdk.Record
		for _, r := range page {
			sum := rowSum(r.Payload)
			old, ok := h.rows[r.ID]
			h.rows[r.ID] = hashRow{sum: sum, gen: h.gen}
			if ok && old.sum == sum {
				continue
			}
			r.Position = at
			r.Meta = map[string]string{"reason": "hash"}
			out = append(out, r)
		}
		if len(page) < n {
			// The pass is through: keys it did not see are gone.
			h.active, h.done = false, time.Now()
			var gone []string
			for id, row := range h.rows {
				if row.gen != h.gen {
					delete(h.rows, id)
					gone = append(gone, id)
				}
			}
			// In key text order, so a pass's output does not depend on
			// map order.
			slices.Sort(gone)
			for _, id := range gone {
				out = append(out, sdk.Record{Entity: e.cfg.Name, ID: id, Op: sdk.OpDelete, Payload: []byte("{}"), Position: at,
					Meta: map[string]string{"reason": "hash pass: key gone"}})
			}
			h.dirty = h.dirty || len(out) > 0
			s.commitHashPass(e, out)
			return out, nil
		}
		h.after = keys[len(keys)-1]
		if len(out) > 0 {
			h.dirty = true
			return out, nil
		}
	}
}

// commitHashPass saves the state of a pass that published something as a
// new version and names it in the position of the pass's last record (out
// is the pass's last page): records before it keep the previous version, so
// a restart from any of them re-runs the pass against a state the hub has
// all of. With an empty out, the next record handed out carries it.
func (s *Source) commitHashPass(e *entity, out []sdk.Record) {
	h := &e.hash
	if !h.dirty || s.cfg.StateDir == "" {
		return
	}
	ver := h.ver + 1
	if err := s.saveHashState(e, ver, h.rows); err != nil {
		// The pass's records still go out; a restart then starts from
		// the previous version and republishes them (no-ops in the hub).
		s.log.Error("sql: hash state not saved; a restart republishes this pass's changes", "entity", e.cfg.Name, "err", err)
		return
	}
	h.ver = ver
	if s.pos.Hash == nil {
		s.pos.Hash = map[string]uint32{}
	}
	s.pos.Hash[e.cfg.Name] = ver
	if len(out) > 0 {
		out[len(out)-1].Position = s.pos.encode()
	}
}

// gatherPage reads and closes rows of a key-ordered query (see scanPage)
// and gathers the children of its parents into them.
func (s *Source) gatherPage(ctx context.Context, e *entity, rows *sql.Rows) ([]sdk.Record, []any, error) {
	page, keys, err := s.scanPage(e, rows)
	rows.Close()
	if err != nil {
		return nil, nil, err
	}
	if err := s.attachChildren(ctx, e, page, keys); err != nil {
		return nil, nil, err
	}
	return page, keys, nil
}

// scanPage reads rows of a key-ordered query (the row, then the key again
// as the last column) into records without position, and returns the raw
// key values, in order, to bind in the children query and the next page.
func (s *Source) scanPage(e *entity, rows *sql.Rows) ([]sdk.Record, []any, error) {
	name := e.cfg.Name
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, nil, fmt.Errorf("sql: entity %s: columns: %w", name, err)
	}
	np := len(cols) - 1
	kinds, names, delIdx, curIdx, err := resultColumns(e, cols, np)
	if err != nil {
		return nil, nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var (
		recs []sdk.Record
		keys []any
	)
	for rows.Next() {
		clear(vals)
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, fmt.Errorf("sql: entity %s: scan row: %w", name, err)
		}
		r := sdk.Record{Entity: name, ID: idString(vals[np], kinds[np]), Op: sdk.OpUpsert, Payload: rowJSON(vals[:np], names, kinds, s.loc)}
		if delIdx >= 0 && truthy(vals[delIdx]) {
			r.Op = sdk.OpDelete
		}
		if curIdx >= 0 {
			// A row read back by key (Reread) carries its version as a
			// polled one does.
			ck := kinds[curIdx]
			if ck == kindPlain {
				ck = kindTimeNoTZ
			}
			if t, ok := toTime(vals[curIdx], ck, s.loc); ok {
				r.UpdatedAt = t
			}
		}
		recs = append(recs, r)
		keys = append(keys, ownValue(vals[np]))
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("sql: entity %s: read rows: %w", name, err)
	}
	return recs, keys, nil
}

// ownValue copies a scanned []byte, which the driver may reuse.
func ownValue(v any) any {
	if b, ok := v.([]byte); ok {
		return append([]byte(nil), b...)
	}
	return v
}

// rowJSON renders one row as a JSON object.
func rowJSON(vals []any, names [][]byte, kinds []colKind, loc *time.Location) []byte {
	b := []byte{'{'}
	for i := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, names[i]...)
		b = append(b, ':')
		b = appendValue(b, vals[i], kinds[i], loc)
	}
	return append(b, '}')
}

// childQuery selects the child rows of a set of parents, ordered, with the
// parent key repeated as the last column: n placeholders.
func childQuery(d dialect, c ChildConfig, n int) string {
	pk := "c." + d.ident(c.ParentKey)
	p := &placeholders{d: d}
	ph := make([]string, n)
	for i := range ph {
		ph[i] = p.next()
	}
	return "SELECT c.*, " + d.rawPrefix + pk + " AS " + d.ident(keyAlias) + " FROM " + d.table(c.Table) + " c WHERE " + pk +
		" IN (" + strings.Join(ph, ", ") + ") ORDER BY " + pk + ", c." + d.ident(c.OrderBy) + ", c." + d.ident(c.Key)
}

// attachChildren adds to each upsert of page (parents with the raw key
// values keys) one array field per configured child table, empty when a
// parent has no child rows, so a parent's last child deleted is seen too.
func (s *Source) attachChildren(ctx context.Context, e *entity, page []sdk.Record, keys []any) error {
	if len(e.cfg.Children) == 0 || len(page) == 0 {
		return nil
	}
	// A page of deletes only has no parents to gather children for (and
	// an empty IN list is a syntax error outside SQLite).
	if len(keys) == 0 {
		return nil
	}
	fields := make([]map[string][]byte, len(e.cfg.Children))
	for ci, c := range e.cfg.Children {
		byParent, err := s.readChildren(ctx, e.cfg.Name, c, keys)
		if err != nil {
			return err
		}
		fields[ci] = byParent
	}
	for i := range page {
		r := &page[i]
		if r.Op == sdk.OpDelete {
			continue
		}
		b := append([]byte(nil), r.Payload[:len(r.Payload)-1]...)
		for ci, c := range e.cfg.Children {
			if len(b) > 1 {
				b = append(b, ',')
			}
			b = appendString(b, c.Name)
			b = append(b, ':', '[')
			b = append(b, fields[ci][r.ID]...)
			b = append(b, ']')
		}
		r.Payload = append(b, '}')
	}
	return nil
}

// readChildren returns, by parent record ID, the comma-separated JSON
// objects of the child rows of the parents keys.
func (s *Source) readChildren(ctx context.Context, entity string, c ChildConfig, keys []any) (map[string][]byte, error) {
	out := map[string][]byte{}
	// In chunks, so the IN list stays within every database's limit on
	// bound parameters whatever batch_size is.
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), maxInList)]
		keys = keys[len(chunk):]
		if err := s.readChildChunk(ctx, entity, c, chunk, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// maxInList bounds the values bound in one IN list.
const maxInList = 1000

func (s *Source) readChildChunk(ctx context.Context, entity string, c ChildConfig, keys []any, out map[string][]byte) error {
	rows, err := s.reader().QueryContext(ctx, childQuery(s.d, c, len(keys)), keys...)
	if err != nil {
		return fmt.Errorf("sql: entity %s: children %s: %w", entity, c.Name, err)
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return fmt.Errorf("sql: entity %s: children %s: %w", entity, c.Name, err)
	}
	np := len(cols) - 1
	kinds := make([]colKind, len(cols))
	names := make([][]byte, np)
	for i, col := range cols {
		kinds[i] = classify(col.DatabaseTypeName())
		if i < np {
			names[i] = appendString(nil, col.Name())
		}
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		clear(vals)
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("sql: entity %s: children %s: scan: %w", entity, c.Name, err)
		}
		id := idString(vals[np], kinds[np])
		b := out[id]
		if len(b) > 0 {
			b = append(b, ',')
		}
		out[id] = append(b, rowJSON(vals[:np], names, kinds, s.loc)...)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sql: entity %s: children %s: %w", entity, c.Name, err)
	}
	return nil
}
