package sqlconn

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
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
	cdc      *pgCDC // change_detection: logical
	hashAck  hashAcks
	// acked is the position the hub acknowledged last (Open's, then
	// Ack's), read by VersionsBehind beside Read.
	acked atomic.Pointer[sdk.Position]
	// reread holds, per entity, ids reconciliation asked to read again.
	rereadMu sync.Mutex
	reread   map[string][]string
}

var _ sdk.Source = (*Source)(nil)

type entity struct {
	cfg      EntityConfig
	q        queries
	lastScan time.Time
	known    map[string]struct{} // keys seen, for the key scan
	// recent holds, by key, the cursor value last handed out for rows
	// within the overlap window behind the position or in the future, so a
	// re-read hands out only what is new. Hashes keep it small: a bulk-
	// loaded table can hold a million rows with one timestamp.
	recent map[uint64]recentRow
	seed   maphash.Seed
	// The overlap pass: active while paging, after (ovC, ovK), up to ovHi;
	// lastOverlap is when the last pass ended.
	ovActive    bool
	ovHi        any
	ovC, ovK    any
	ovCutoff    time.Time
	lastOverlap time.Time
	curKind     colKind   // the cursor column's kind, once a page was read
	hash        hashState // change_detection: hash
	// pageKeys: the raw key values of the page being read, by record ID,
	// for the children query; nil without children.
	pageKeys map[string]any
	// childAfter is, per child with a cursor, the highest child cursor
	// value seen (nil: none yet).
	childAfter []any
	// future counts rows held back from the position for a cursor in the
	// future, for the log line.
	future int
}

// position is the Position of this connector: per entity the last (cursor,
// key) handed out.
type position struct {
	Entities map[string]entityPos `json:"entities"`
	// Children holds, per entity, the highest cursor value of each child
	// table (in children order; null for a child without cursor) whose
	// changes have republished their parents, so a restart polls the
	// children from there: a child changed while crmhub was stopped still
	// republishes its parent.
	Children map[string][]pval `json:"children,omitempty"`
	// Hash names, per hash-mode entity, the version of its saved row
	// hashes (under state_dir) that the records up to here are covered by.
	Hash map[string]uint32 `json:"hash,omitempty"`
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
	b = append(b, '}')
	if len(p.Children) > 0 {
		// Rare (only after a child poll found changes): encoding/json,
		// which sorts the map's keys.
		j, _ := json.Marshal(p.Children)
		b = append(b, `,"children":`...)
		b = append(b, j...)
	}
	if len(p.Hash) > 0 {
		j, _ := json.Marshal(p.Hash)
		b = append(b, `,"hash":`...)
		b = append(b, j...)
	}
	return append(b, '}')
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
	s.acked.Store(&pos)
	if len(pos) > 0 {
		if err := json.Unmarshal(pos, &s.pos); err != nil {
			return fmt.Errorf("sql: decode position: %w", err)
		}
		if s.pos.Entities == nil {
			s.pos.Entities = map[string]entityPos{}
		}
	}
	if err := checkSQLiteDir(s.cfg.Driver, s.cfg.DSN); err != nil {
		return err
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
		// The seed from the start: a restarted source's first page may be
		// an overlap page, looked up (handed) before anything is
		// remembered, and an unset seed panics.
		ent := &entity{cfg: e, q: buildQueries(s.d, e), seed: maphash.MakeSeed()}
		if err := s.initChildCursors(ctx, ent); err != nil {
			return err
		}
		s.entities = append(s.entities, ent)
		if err := s.openHashState(ent); err != nil {
			return err
		}
	}
	if s.cfg.logical() {
		return s.openLogical(ctx, pos)
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
	if s.cdc != nil {
		return s.readLogical(ctx, n)
	}
	if recs, err := s.readRereads(ctx, n); err != nil || len(recs) > 0 {
		return recs, err
	}
	for range s.entities {
		e := s.entities[s.next]
		s.next = (s.next + 1) % len(s.entities)
		var (
			recs []sdk.Record
			err  error
		)
		if e.cfg.ChangeDetection == "hash" {
			recs, err = s.readHash(ctx, e, n)
		} else {
			recs, err = s.readEntity(ctx, e, n, false)
		}
		if err != nil || len(recs) > 0 {
			return recs, err
		}
	}
	// Caught up: parents of child rows whose cursor moved.
	for _, e := range s.entities {
		recs, err := s.pollChildren(ctx, e)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
	}
	// Look behind each position for rows that sort before it but were not
	// there when it passed.
	for _, e := range s.entities {
		if e.cfg.Cursor == "" {
			continue
		}
		// A pass pages through the window; pages whose rows were all
		// handed out before give nothing, so go on to the next.
		for range 1000 {
			recs, err := s.readEntity(ctx, e, n, true)
			if err != nil || len(recs) > 0 || !e.ovActive {
				if err != nil || len(recs) > 0 {
					return recs, err
				}
				break
			}
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

// readEntity reads a page (see readPage) and gathers the children of its
// parents into them.
func (s *Source) readEntity(ctx context.Context, e *entity, n int, overlap bool) ([]sdk.Record, error) {
	if len(e.cfg.Children) == 0 {
		return s.readPage(ctx, e, n, overlap)
	}
	e.pageKeys = map[string]any{}
	recs, err := s.readPage(ctx, e, n, overlap)
	if len(recs) == 0 {
		return recs, err
	}
	keys := make([]any, 0, len(e.pageKeys))
	for _, k := range e.pageKeys {
		keys = append(keys, k)
	}
	if cerr := s.attachChildren(ctx, e, recs, keys); cerr != nil {
		// The position has moved past these parents: read them again
		// from where they start at the next Read rather than hand them
		// out without children.
		return nil, cerr
	}
	return recs, err
}

// readPage reads the next page of e after its position; with overlap, the
// rows behind the position within the entity's cursor_overlap instead, of
// which it hands out only those not handed out before, at the current
// position.
func (s *Source) readPage(ctx context.Context, e *entity, n int, overlap bool) ([]sdk.Record, error) {
	name := e.cfg.Name
	ep := s.pos.Entities[name]
	var (
		rows *sql.Rows
		err  error
		now  time.Time // the database's clock, for cursors in the future
	)
	if e.cfg.Cursor != "" {
		if now, err = dbClock(ctx, s.db, s.d.driverName); err != nil {
			return nil, fmt.Errorf("sql: entity %s: read the database clock: %w", name, err)
		}
	}
	switch {
	case overlap:
		if !e.ovActive {
			if ep.Cursor == nil || time.Since(e.lastOverlap) < overlapInterval(e) {
				return nil, nil
			}
			lo, hi, cutoff, ok := overlapWindow(*ep.Cursor, time.Duration(e.cfg.CursorOverlap), now, e.curKind, s.loc)
			if !ok {
				e.lastOverlap = time.Now()
				return nil, nil
			}
			e.ovActive, e.ovHi, e.ovCutoff, e.ovC, e.ovK = true, hi, cutoff, nil, nil
			e.prune(cutoff)
			rows, err = s.db.QueryContext(ctx, e.q.overlapFirst, lo, hi, n)
		} else {
			rows, err = s.db.QueryContext(ctx, e.q.overlapNext, e.ovHi, e.ovC, e.ovC, e.ovK, n)
		}
		if err != nil {
			e.ovActive = false
			return nil, fmt.Errorf("sql: entity %s: overlap query: %w", name, err)
		}
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
	kinds, names, delIdx, curPayloadIdx, err := resultColumns(e, cols, np)
	if err != nil {
		return nil, err
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
		// held: rows handed out without moving the position (behind it,
		// or in the future); keptVals the last row that moves it.
		held     []sdk.Record
		keptVals []any
		lastKept = -1
		window   = time.Duration(e.cfg.CursorOverlap)
	)
	carve := func(b []byte) []byte {
		if cap(slab)-len(slab) < len(b) {
			slab = make([]byte, 0, max(64<<10, len(b)))
		}
		i := len(slab)
		slab = append(slab, b...)
		return slab[i:len(slab):len(slab)]
	}
	count := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("sql: entity %s: scan row: %w", name, err)
		}
		count++
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
		if e.pageKeys != nil && r.Op == sdk.OpUpsert {
			e.pageKeys[r.ID] = ownValue(vals[keyIdx])
		}
		if e.known != nil {
			if r.Op == sdk.OpDelete {
				delete(e.known, r.ID)
			} else {
				e.known[r.ID] = struct{}{}
			}
		}
		switch {
		case overlap || curIdx >= 0 && !r.UpdatedAt.IsZero() && r.UpdatedAt.After(now.Add(clockSkew)):
			// Behind the position, or in the future of the database's
			// clock (a business time written into the cursor column):
			// handed out once per cursor value, without moving the
			// position, so the rows still to come before it are read.
			cp := toPval(vals[curIdx], kinds[curIdx])
			handed, again := e.handed(r.ID, cp.V, r.Payload)
			if handed {
				continue
			}
			if again > 0 && !r.UpdatedAt.IsZero() {
				// Changed again within the same cursor value (whole
				// seconds): a later version than the one handed out, so
				// it must sort after it in the hub, which orders versions
				// by updated-at.
				r.UpdatedAt = r.UpdatedAt.Add(time.Duration(again))
			}
			e.rememberAgain(r.ID, cp, r.Payload, again, s.loc)
			if !overlap {
				e.future++
			}
			held = append(held, r)
		default:
			if curIdx >= 0 && window > 0 && !r.UpdatedAt.IsZero() && !r.UpdatedAt.Before(now.Add(-window)) {
				// Within the window an overlap pass re-reads.
				e.remember(r.ID, toPval(vals[curIdx], kinds[curIdx]), r.Payload, s.loc)
			}
			if len(held) > 0 {
				// Sorted by cursor: nothing after a future row moves the
				// position either.
				held = append(held, r)
				continue
			}
			recs = append(recs, r)
			lastKept = len(recs) - 1
			keptVals = append(keptVals[:0], vals...)
		}
	}
	if curIdx >= 0 {
		e.curKind = kinds[curIdx]
		if overlap {
			// The pass goes on after the last row of the page, or ends.
			if count < n {
				e.ovActive, e.lastOverlap = false, time.Now()
			} else {
				e.ovC, _ = toPval(lastVals[curIdx], kinds[curIdx]).value()
				e.ovK, _ = toPval(lastVals[keyIdx], kinds[keyIdx]).value()
			}
		}
	}
	if e.future > 0 && !overlap && len(held) > 0 {
		s.log.Warn("sql: rows with a cursor value in the future of the database's clock; read, but the position stays at the database's time",
			"entity", name, "cursor", e.cfg.Cursor, "rows", len(held), "held_so_far", e.future)
	}
	if overlap || len(held) > 0 {
		// Handed out at the position as it stands: a row behind it, or in
		// the future, must not move it.
		at := s.pos.encode()
		if !overlap && lastKept >= 0 {
			kp := toPval(keptVals[keyIdx], kinds[keyIdx])
			cp := toPval(keptVals[curIdx], kinds[curIdx])
			s.pos.Entities[name] = entityPos{Key: &kp, Cursor: &cp}
			at = s.pos.encode()
		}
		for i := range held {
			held[i].Position = at
		}
		recs = append(recs, held...)
		return recs, rows.Err()
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

// clockSkew is how far a cursor value may be ahead of the database's clock
// before it counts as being in the future.
const clockSkew = 5 * time.Second

// recentRow is a row handed out: its cursor value's hash and time.
type recentRow struct {
	version uint64 // hash of the cursor value and the row's content
	cursor  uint64 // hash of the cursor value
	again   uint32 // how often the row was handed out again within this cursor value
	at      int64  // unix nanoseconds
}

// handed reports whether key was handed out with this cursor value and
// this content. The content counts because a cursor of whole seconds
// keeps its value when the row is changed again within the same second:
// that second change must be read too. again is, for such a change, how
// many versions of the row this cursor value has had before it.
func (e *entity) handed(key, cursor string, payload []byte) (handed bool, again uint32) {
	r, ok := e.recent[maphash.String(e.seed, key)]
	if !ok {
		return false, 0
	}
	if r.version == e.version(cursor, payload) {
		return true, 0
	}
	if r.cursor == maphash.String(e.seed, cursor) {
		return false, r.again + 1
	}
	return false, 0
}

func (e *entity) version(cursor string, payload []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(e.seed)
	h.WriteString(cursor)
	h.WriteByte(0)
	h.Write(payload)
	return h.Sum64()
}

// remember notes the cursor value and content handed out for key. Its
// time is read from the cursor value as the position holds it, the frame
// the overlap window is cut in.
func (e *entity) remember(key string, cursor pval, payload []byte, loc *time.Location) {
	e.rememberAgain(key, cursor, payload, 0, loc)
}

func (e *entity) rememberAgain(key string, cursor pval, payload []byte, again uint32, loc *time.Location) {
	if e.recent == nil {
		e.recent = map[uint64]recentRow{}
	}
	at, _ := cursorAt(cursor, loc)
	e.recent[maphash.String(e.seed, key)] = recentRow{version: e.version(cursor.V, payload), cursor: maphash.String(e.seed, cursor.V),
		again: again, at: at.UnixNano()}
}

// prune forgets rows whose cursor value is before cutoff: the overlap
// re-read no longer reaches them.
func (e *entity) prune(cutoff time.Time) {
	c := cutoff.UnixNano()
	for k, r := range e.recent {
		if r.at < c {
			delete(e.recent, k)
		}
	}
}

// overlapInterval is how often a caught-up reader re-reads its overlap
// window: a quarter of it, at most every 30 s.
func overlapInterval(e *entity) time.Duration {
	return min(time.Duration(e.cfg.CursorOverlap)/4, 30*time.Second)
}

// overlapWindow is the range an overlap pass re-reads behind the position's
// cursor p: from d before the later of the position and the database's
// clock now, up to the position; values to bind against the cursor column,
// and the lower bound as the time recent rows are pruned at. A late commit
// lands within minutes of the clock, so a position far in the past (a
// bulk-loaded table) has an empty window. ok is false when the cursor is
// not a timestamp or the window is empty.
func overlapWindow(p pval, d time.Duration, now time.Time, k colKind, loc *time.Location) (lo, hi any, cutoff time.Time, ok bool) {
	if d <= 0 {
		return nil, nil, time.Time{}, false
	}
	pos, layout, ok := cursorTime(p, loc)
	if !ok {
		return nil, nil, time.Time{}, false
	}
	// The position as the driver returned it: a timestamp without zone
	// is its wall clock labelled UTC; text is a wall clock in loc.
	clock := now
	if k != kindTimeTZ {
		w := now.In(loc)
		clock = time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), pos.Location())
	}
	cutoff = clock.Add(-d)
	if pos.Before(cutoff) {
		return nil, nil, time.Time{}, false
	}
	hi, _ = p.value()
	if layout == "" {
		return cutoff, hi, cutoff, true
	}
	return cutoff.Format(layout), hi, cutoff, true
}

// cursorAt reads a position's cursor value as a time (see cursorTime).
func cursorAt(p pval, loc *time.Location) (time.Time, bool) {
	t, _, ok := cursorTime(p, loc)
	return t, ok
}

// cursorTime reads a position's cursor value as a time: a native timestamp
// as the driver returned it (layout ""), or text in one of versionLayouts,
// in loc; ok is false for other cursors (row versions).
func cursorTime(p pval, loc *time.Location) (t time.Time, layout string, ok bool) {
	switch p.T {
	case "time":
		t, err := time.Parse(time.RFC3339Nano, p.V)
		return t, "", err == nil
	case "str":
		for _, l := range versionLayouts {
			if t, err := time.ParseInLocation(l, p.V, loc); err == nil && t.Format(l) == p.V {
				return t, l, true
			}
		}
	}
	return time.Time{}, "", false
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

// Ack lets a logical-mode source confirm the LSN to the server; the
// other modes hold nothing the server needs to release.
func (s *Source) Ack(_ context.Context, pos sdk.Position) error {
	if len(pos) == 0 {
		return nil
	}
	if s.cdc == nil {
		s.acked.Store(&pos)
		s.ackHashState(pos)
		return nil
	}
	return s.ackLogical(pos)
}

// Teardown closes the replication stream and the database.
func (s *Source) Teardown(ctx context.Context) error {
	err := s.closeLogical(ctx)
	s.cdc = nil
	if s.db == nil {
		return err
	}
	err = errors.Join(err, s.db.Close())
	s.db = nil
	return err
}

// resultColumns classifies a result's columns and names the first np (the
// payload), finding the deleted and cursor columns among them.
func resultColumns(e *entity, cols []*sql.ColumnType, np int) (kinds []colKind, names [][]byte, delIdx, curIdx int, err error) {
	kinds, names, delIdx, curIdx = make([]colKind, len(cols)), make([][]byte, np), -1, -1
	for i, c := range cols {
		kinds[i] = classify(c.DatabaseTypeName())
		if i < np {
			names[i] = appendString(nil, c.Name())
			if c.Name() == e.cfg.Deleted {
				delIdx = i
			}
			if e.cfg.Cursor != "" && c.Name() == e.cfg.Cursor {
				curIdx = i
			}
		}
	}
	if e.cfg.Deleted != "" && delIdx < 0 {
		return nil, nil, 0, 0, fmt.Errorf("sql: entity %s: deleted column %q is not in the result", e.cfg.Name, e.cfg.Deleted)
	}
	return kinds, names, delIdx, curIdx, nil
}
