package sqlconn

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Source reads the configured entities. Read and Ack may run concurrently;
// Ack touches nothing Read uses, so no lock is needed.
type Source struct {
	sdk.UnimplementedSource
	cfg      Config
	loc      *time.Location
	d        dialect
	db       *sql.DB
	entities []*entity
	next     int // entity Read looks at first, round robin
	pos      position
	log      *slog.Logger
}

var _ sdk.Source = (*Source)(nil)

type entity struct {
	cfg      EntityConfig
	q        queries
	lastScan time.Time
	known    map[string]struct{} // keys seen, for the key scan
}

// position is the Position of this connector: per entity the last (cursor,
// key) handed out.
type position struct {
	Entities map[string]entityPos `json:"entities"`
}

type entityPos struct {
	Cursor *pval `json:"c,omitempty"`
	Key    *pval `json:"k,omitempty"`
}

// encode renders the position by hand: it is built for every record, and
// encoding/json would dominate a snapshot's cost. Entity order is sorted
// so equal positions encode equally.
func (p position) encode() []byte {
	names := make([]string, 0, len(p.Entities))
	for n := range p.Entities {
		names = append(names, n)
	}
	slices.Sort(names)
	b := make([]byte, 0, 96)
	b = append(b, `{"entities":{`...)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		e := p.Entities[n]
		b = appendString(b, n)
		b = append(b, ":{"...)
		if e.Cursor != nil {
			b = append(b, `"c":`...)
			b = e.Cursor.append(b)
			b = append(b, ',')
		}
		if e.Key != nil {
			b = append(b, `"k":`...)
			b = e.Key.append(b)
		} else if e.Cursor != nil {
			b = b[:len(b)-1]
		}
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

// encodeAround returns what encode gives before and after the inner part
// of entity name's entry (`"c":...,"k":...`), the other entities as they
// stand.
func (p position) encodeAround(name string) (prefix, suffix []byte) {
	saved, had := p.Entities[name]
	p.Entities[name] = entityPos{}
	full := p.encode()
	if had {
		p.Entities[name] = saved
	} else {
		delete(p.Entities, name)
	}
	// The entry of name encodes as `"name":{}`; split inside its braces.
	entry := appendString(nil, name)
	entry = append(entry, ":{}"...)
	i := bytes.Index(full, entry)
	cut := i + len(entry) - 1
	return full[:cut:cut], full[cut:]
}

func (v *pval) append(b []byte) []byte {
	b = append(b, `{"t":`...)
	b = appendString(b, v.T)
	if v.V != "" {
		b = append(b, `,"v":`...)
		b = appendString(b, v.V)
	}
	return append(b, '}')
}

// Configure checks the settings without touching the database.
func (s *Source) Configure(_ context.Context, cfg sdk.Config) error {
	c, loc, err := parseConfig(cfg)
	if err != nil {
		return err
	}
	s.cfg, s.loc, s.d = c, loc, dialects[c.Driver]
	s.log = slog.Default().With("connector", "sql")
	return nil
}

// Open connects and restores the per-entity keyset position.
func (s *Source) Open(ctx context.Context, pos sdk.Position) error {
	s.pos = position{Entities: map[string]entityPos{}}
	if len(pos) > 0 {
		if err := json.Unmarshal(pos, &s.pos); err != nil {
			return fmt.Errorf("sql: decode position: %w", err)
		}
		if s.pos.Entities == nil {
			s.pos.Entities = map[string]entityPos{}
		}
	}
	db, err := sql.Open(s.d.driverName, s.cfg.DSN)
	if err != nil {
		return fmt.Errorf("sql: open %s database: %w", s.cfg.Driver, err)
	}
	s.db = db
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("sql: connect to %s database: %w", s.cfg.Driver, err)
	}
	s.entities = s.entities[:0]
	for _, e := range s.cfg.Entities {
		s.entities = append(s.entities, &entity{cfg: e, q: buildQueries(s.d, e)})
	}
	return nil
}

// Read returns the next page of one entity, taking the entities in turn; an
// empty batch means every entity is caught up.
func (s *Source) Read(ctx context.Context, max int) ([]sdk.Record, error) {
	if s.db == nil {
		return nil, errors.New("sql: Read before Open")
	}
	n := min(max, s.cfg.BatchSize)
	if n <= 0 {
		n = 1
	}
	for range s.entities {
		e := s.entities[s.next]
		s.next = (s.next + 1) % len(s.entities)
		recs, err := s.readEntity(ctx, e, n)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
	}
	for _, e := range s.entities {
		iv := time.Duration(e.cfg.KeyScanInterval)
		if iv <= 0 || time.Since(e.lastScan) < iv {
			continue
		}
		recs, err := s.keyScan(ctx, e)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
	}
	return nil, nil
}

func (s *Source) readEntity(ctx context.Context, e *entity, n int) ([]sdk.Record, error) {
	name := e.cfg.Name
	ep := s.pos.Entities[name]
	var (
		rows *sql.Rows
		err  error
	)
	switch {
	case ep.Key == nil:
		rows, err = s.db.QueryContext(ctx, e.q.first, n)
	case e.cfg.Cursor != "":
		var c, k any
		if c, err = ep.Cursor.value(); err == nil {
			k, err = ep.Key.value()
		}
		if err != nil {
			return nil, fmt.Errorf("sql: entity %s: position: %w", name, err)
		}
		if s.d.rowCompare {
			rows, err = s.db.QueryContext(ctx, e.q.next, c, k, n)
		} else {
			rows, err = s.db.QueryContext(ctx, e.q.next, c, c, k, n)
		}
	default:
		var k any
		if k, err = ep.Key.value(); err != nil {
			return nil, fmt.Errorf("sql: entity %s: position: %w", name, err)
		}
		rows, err = s.db.QueryContext(ctx, e.q.next, k, n)
	}
	if err != nil {
		return nil, fmt.Errorf("sql: entity %s: query: %w", name, err)
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("sql: entity %s: columns: %w", name, err)
	}
	// The extra key and cursor columns come last; the payload is the rest.
	np := len(cols) - 1
	keyIdx, curIdx := np, -1
	if e.cfg.Cursor != "" {
		np--
		keyIdx, curIdx = np, np+1
	}
	kinds := make([]colKind, len(cols))
	names := make([][]byte, np)
	delIdx, curPayloadIdx := -1, -1
	for i, c := range cols {
		kinds[i] = classify(c.DatabaseTypeName())
		if i < np {
			names[i] = appendString(nil, c.Name())
			if c.Name() == e.cfg.Deleted {
				delIdx = i
			}
			if c.Name() == e.cfg.Cursor {
				curPayloadIdx = i
			}
		}
	}
	if e.cfg.Deleted != "" && delIdx < 0 {
		return nil, fmt.Errorf("sql: entity %s: deleted column %q is not in the result", name, e.cfg.Deleted)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	// The position of a record differs from the next one's only in this
	// entity's (cursor, key), so the rest is encoded once per page. Each
	// record is built in a reused scratch buffer and copied into a 64 KiB
	// slab shared by many records: two allocations per record fewer, and
	// no growing arena that copies itself. A record's slices are capped so
	// an append by a consumer cannot run into its neighbour.
	prefix, suffix := s.pos.encodeAround(name)
	recs := make([]sdk.Record, 0, n)
	var (
		scratch  = make([]byte, 0, 512)
		slab     []byte
		lastVals = vals
	)
	carve := func(b []byte) []byte {
		if cap(slab)-len(slab) < len(b) {
			slab = make([]byte, 0, max(64<<10, len(b)))
		}
		i := len(slab)
		slab = append(slab, b...)
		return slab[i:len(slab):len(slab)]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("sql: entity %s: scan row: %w", name, err)
		}
		buf := append(scratch[:0], '{')
		for i := 0; i < np; i++ {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, names[i]...)
			buf = append(buf, ':')
			buf = appendValue(buf, vals[i], kinds[i], s.loc)
		}
		buf = append(buf, '}')
		r := sdk.Record{Entity: name, ID: idString(vals[keyIdx], kinds[keyIdx]), Op: sdk.OpUpsert, Payload: carve(buf)}
		buf = append(buf[:0], prefix...)
		if curIdx >= 0 {
			buf = append(buf, `"c":`...)
			buf = appendPval(buf, vals[curIdx], kinds[curIdx])
			buf = append(buf, ',')
		}
		buf = append(buf, `"k":`...)
		buf = appendPval(buf, vals[keyIdx], kinds[keyIdx])
		buf = append(buf, suffix...)
		r.Position = carve(buf)
		scratch = buf
		if curIdx >= 0 {
			ti := curIdx
			if curPayloadIdx >= 0 {
				ti = curPayloadIdx
			}
			ck := kinds[ti]
			if ck == kindPlain {
				ck = kindTimeNoTZ // text timestamps (SQLite) carry no zone
			}
			if t, ok := toTime(vals[ti], ck, s.loc); ok {
				r.UpdatedAt = t
			}
		}
		if delIdx >= 0 && truthy(vals[delIdx]) {
			r.Op = sdk.OpDelete
		}
		if e.known != nil {
			if r.Op == sdk.OpDelete {
				delete(e.known, r.ID)
			} else {
				e.known[r.ID] = struct{}{}
			}
		}
		recs = append(recs, r)
	}
	if len(recs) > 0 {
		kp := toPval(lastVals[keyIdx], kinds[keyIdx])
		ep := entityPos{Key: &kp}
		if curIdx >= 0 {
			cp := toPval(lastVals[curIdx], kinds[curIdx])
			ep.Cursor = &cp
		}
		s.pos.Entities[name] = ep
	}
	if err := rows.Err(); err != nil {
		// Records scanned before the failure are still good and their
		// positions are in order; hand them out, the error comes next time.
		if len(recs) > 0 {
			s.log.Warn("sql read interrupted, returning partial page", "entity", name, "records", len(recs), "err", err)
			return recs, nil
		}
		return nil, fmt.Errorf("sql: entity %s: read rows: %w", name, err)
	}
	return recs, nil
}

// keyScan lists every key of the entity and emits a delete for each key
// seen before (read or scanned since Open) that is gone now. Keys deleted
// while crmhub was stopped are found only if a soft-delete column is used.
func (s *Source) keyScan(ctx context.Context, e *entity) ([]sdk.Record, error) {
	name := e.cfg.Name
	rows, err := s.db.QueryContext(ctx, e.q.keyScan)
	if err != nil {
		return nil, fmt.Errorf("sql: entity %s: key scan: %w", name, err)
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("sql: entity %s: key scan: %w", name, err)
	}
	kind := classify(cols[0].DatabaseTypeName())
	now := map[string]struct{}{}
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("sql: entity %s: key scan: %w", name, err)
		}
		now[idString(v, kind)] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sql: entity %s: key scan: %w", name, err)
	}
	e.lastScan = time.Now()
	var recs []sdk.Record
	if e.known != nil {
		p := s.pos.encode()
		for id := range e.known {
			if _, ok := now[id]; !ok {
				recs = append(recs, sdk.Record{Entity: name, ID: id, Op: sdk.OpDelete, Payload: []byte("{}"), Position: p, Meta: map[string]string{"reason": "key scan"}})
			}
		}
	}
	e.known = now
	return recs, nil
}

// Teardown closes the database.
func (s *Source) Teardown(context.Context) error {
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}
