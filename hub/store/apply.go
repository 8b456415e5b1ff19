package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

// batch is the state of one Apply: the customer records touched and the
// golden customers they belonged to before, re-clustered at the end.
type batch struct {
	tx      *sql.Tx
	stats   hub.ApplyStats
	dirty   map[string]bool // customer record keys touched
	seedsG  map[string]bool // golden ids of touched records before the batch
	applied map[string]int  // per entity, for metrics
	skipped map[string]int
	// blocksSkipped counts, per blocking rule, the oversized blocks relink
	// skipped for one written record, for metrics.
	blocksSkipped map[string]int
	// blocks holds the members of the blocks whose membership the batch
	// changed, read once its match keys were written (crossingMembers),
	// for relinking to reuse.
	blocks map[string]blockRead
	cached []string // record keys this transaction put in the cache
	// oldRefs are the customers the batch's linked records named before
	// it, read with their versions: a delete or a re-pointed record
	// leaves its old customer, whose value figures move (withValue).
	oldRefs map[hub.Ref]bool
	// pending holds the batch's customer records, written to the records
	// table only after resolution, with their golden id: resolution
	// reads them from here, and no record is rewritten just to set its
	// golden id (on PostgreSQL an update of an indexed column rewrites
	// every index of the row).
	pending map[string]*pendingRec
}

// pendingRec is a customer record version of this batch not yet in the
// records table.
type pendingRec struct {
	row    []any           // rkey, system, source_entity, source_id, entity, updated_at, deleted, event_id, data, ref_system, ref_id
	stored bool            // an older version is in the table
	state  recState        // as component would read it
	rec    identity.Record // the parsed record, if live
	echo   bool            // crmhub's own write-back read back
}

// LastApply is when the last Apply returned (zero before any), or now
// while one is in progress: the deferred value recompute paces itself
// against apply only while apply runs. An Apply waiting for the writer
// counts: a sync's batches took 0.3-3 s each, most of it behind the
// recompute's transactions, and an applier judged by its last return
// looked idle a second into one, so the recompute started pass after
// pass throughout a first sync (46,006 recomputes for 26,639 customers,
// docs/benchmarks.md).
func (s *Store) LastApply() time.Time {
	if s.applying.Load() > 0 {
		return time.Now()
	}
	if n := s.lastApply.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Apply applies events in one transaction. See hub.Store.
func (s *Store) Apply(ctx context.Context, events []hub.Envelope) (hub.ApplyStats, error) {
	// One Apply at a time in this process (they serialize on the
	// database's write lock anyway), so the write epoch and the record
	// cache move with the commits, never between one and its bookkeeping.
	s.applying.Add(1)
	defer s.applying.Add(-1)
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	defer func() { s.lastApply.Store(time.Now().UnixNano()) }()
	start := time.Now()
	b := &batch{dirty: map[string]bool{}, seedsG: map[string]bool{}, applied: map[string]int{}, skipped: map[string]int{},
		pending: map[string]*pendingRec{}}
	// Validate everything before touching the database: a bad event fails
	// fast and names itself.
	items := make([]item, len(events))
	for i := range events {
		it, err := prepare(&events[i])
		if err != nil {
			ae := &hub.ApplyError{Index: i, EventID: events[i].EventID, System: events[i].System,
				SourceEntity: events[i].SourceEntity, SourceID: events[i].SourceID, Err: err}
			var fe *fieldError
			if errors.As(err, &fe) {
				ae.Field, ae.Err = fe.field, fe.err
			}
			return hub.ApplyStats{}, ae
		}
		items[i] = it
	}
	var epoch int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		b.tx = tx
		if s.pg {
			// One writer at a time across hub instances: clustering reads
			// a component and rewrites it, which must not interleave.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7347002)`); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		var err error
		if epoch, err = s.nextEpoch(ctx, tx); err != nil {
			return err
		}
		return s.withValue(ctx, b, items, func() error {
			if err := s.write(ctx, b, items); err != nil {
				return err
			}
			return s.resolve(ctx, b)
		})
	})
	if err != nil {
		// The commit may have happened or not: trust nothing cached.
		s.cache.drop(b.cached)
		s.cache.distrust()
		return hub.ApplyStats{}, infra(err)
	}
	s.epoch = epoch
	s.m.observe(b, time.Since(start))
	s.countsCache.wrote()
	s.appliedForStats(ctx, len(events))
	return b.stats, nil
}

// nextEpoch increments the write epoch and returns it. Unless the value
// found is the one this store's last commit left, another writer (an
// instance sharing the database, a commit that failed half-way) may have
// changed records the cache holds: they must be validated again.
func (s *Store) nextEpoch(ctx context.Context, tx *sql.Tx) (int64, error) {
	var e int64
	if err := tx.QueryRowContext(ctx, `UPDATE write_epoch SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch`).Scan(&e); err != nil {
		return 0, fmt.Errorf("write epoch: %w", err)
	}
	if e != s.epoch+1 {
		s.cache.distrust()
	}
	return e, nil
}

// item is one validated event.
type item struct {
	ev   *hub.Envelope
	rkey string
	at   int64
	del  bool
	cust *hub.Customer
	ref  hub.Ref
	echo bool // crmhub's own write-back read back (see echoes)
	// linked is the decoded order, payment or case of a linked upsert,
	// whose value fact the batch writes (value_facts.go).
	linked any
}

func prepare(ev *hub.Envelope) (item, error) {
	if ev.EventID == "" {
		return item{}, invalid("event_id", "empty")
	}
	if ev.System == "" || ev.SourceEntity == "" || ev.SourceID == "" {
		return item{}, invalid("source_system", "source system, entity and id are required")
	}
	if ev.Op != hub.OpUpsert && ev.Op != hub.OpDelete {
		return item{}, invalid("op", "want upsert or delete, got %q", ev.Op)
	}
	switch ev.Entity {
	case hub.EntityCustomer, hub.EntityOrder, hub.EntityPayment, hub.EntityServiceCase:
	default:
		return item{}, invalid("entity", "unknown entity %q", ev.Entity)
	}
	it := item{ev: ev, rkey: identity.RecordKey(ev.System, ev.SourceEntity, ev.SourceID), del: ev.Op == hub.OpDelete}
	if !ev.SourceUpdatedAt.IsZero() {
		it.at = ev.SourceUpdatedAt.UnixNano()
	}
	if !it.del {
		var err error
		if it.cust, it.ref, it.linked, err = parse(ev); err != nil {
			return item{}, err
		}
	}
	return it, nil
}

// version is what decides which state of a source record wins.
type version struct {
	at     int64
	del    bool
	event  string
	entity string
	golden string // golden id before the batch (customers)
	item   *item  // the winning event of this batch, nil if the stored one
	stored bool   // the record is in the database
	mkeys  string // the stored version's match keys (JSON array), "" if none
}

// write records the batch's events and the winning versions of their
// source records, in a few multi-row statements.
func (s *Store) write(ctx context.Context, b *batch, items []item) error {
	tx := b.tx
	eventIDs := make([]string, 0, len(items))
	rkeys := make([]string, 0, len(items))
	for _, it := range items {
		eventIDs = append(eventIDs, it.ev.EventID)
		rkeys = append(rkeys, it.rkey)
	}
	seen := map[string]bool{}
	scanSeen := func(rows *sql.Rows) error {
		var id string
		err := rows.Scan(&id)
		seen[id] = true
		return err
	}
	keyed := make([][]any, len(items))
	for i, it := range items {
		keyed[i] = []any{it.rkey, it.ev.EventID}
	}
	if err := s.queryRows(ctx, tx, `SELECT a.event_id FROM (`, "text,text",
		`) AS v JOIN applied_events a ON a.rkey = v.column1 AND a.event_id = v.column2`, keyed, scanSeen); err != nil {
		return fmt.Errorf("read applied events: %w", err)
	}
	if s.legacyEvents {
		if err := s.eachChunk(ctx, tx, `SELECT event_id FROM applied_events WHERE rkey = '' AND event_id IN (%s)`, uniq(eventIDs), scanSeen); err != nil {
			return fmt.Errorf("read applied events: %w", err)
		}
	}
	cur := map[string]*version{}
	b.oldRefs = map[hub.Ref]bool{}
	if err := s.eachChunk(ctx, tx, `SELECT rkey, updated_at, deleted, event_id, golden_id, entity, mkeys, ref_system, ref_id FROM records WHERE rkey IN (%s)`, uniq(rkeys), func(rows *sql.Rows) error {
		var (
			rkey           string
			v              version
			del            int
			g, k, rsy, rid sql.NullString
		)
		if err := rows.Scan(&rkey, &v.at, &del, &v.event, &g, &v.entity, &k, &rsy, &rid); err != nil {
			return err
		}
		v.del, v.golden, v.stored, v.mkeys = del == 1, g.String, true, k.String
		if rsy.Valid {
			b.oldRefs[hub.Ref{System: rsy.String, ID: rid.String}] = true
		}
		cur[rkey] = &v
		return nil
	}); err != nil {
		return fmt.Errorf("read records: %w", err)
	}

	if err := s.echoes(ctx, tx, items, cur); err != nil {
		return err
	}
	var newEvents [][]any
	for i := range items {
		it := &items[i]
		ev := it.ev
		if seen[ev.EventID] {
			b.stats.Skipped++
			b.skipped[ev.Entity]++
			continue
		}
		seen[ev.EventID] = true
		newEvents = append(newEvents, []any{it.rkey, ev.EventID})
		v := cur[it.rkey]
		if v != nil {
			if v.entity != ev.Entity {
				return &hub.ApplyError{Index: i, EventID: ev.EventID, System: ev.System, SourceEntity: ev.SourceEntity,
					SourceID: ev.SourceID, Field: "entity", Err: fmt.Errorf("%w: record was %s before, now %s", hub.ErrInvalid, v.entity, ev.Entity)}
			}
			if !newer(it.at, it.del, ev.EventID, v.at, v.del, v.event) {
				b.stats.Skipped++
				b.skipped[ev.Entity]++
				continue
			}
		} else {
			v = &version{entity: ev.Entity}
			cur[it.rkey] = v
		}
		v.at, v.del, v.event, v.item = it.at, it.del, ev.EventID, it
		b.stats.Applied++
		b.applied[ev.Entity]++
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO applied_events (rkey, event_id) `, "text,text", ``, newEvents); err != nil {
		return fmt.Errorf("record events: %w", err)
	}

	var recRows, updRows, keyRows, dropKeys [][]any
	var custKeys []string
	keysOf := map[string][]string{}
	entered, left := map[string]int{}, map[string]int{} // records entering each block and leaving each key
	for _, rkey := range sortedVersionKeys(cur) {
		v := cur[rkey]
		it := v.item
		if it == nil {
			continue
		}
		ev := it.ev
		var data, refSys, refID any
		if !it.del {
			data = string(ev.Data)
		}
		if it.ref.System != "" {
			refSys, refID = it.ref.System, it.ref.ID
		}
		row := []any{rkey, ev.System, ev.SourceEntity, ev.SourceID, ev.Entity, it.at, b2i(it.del), ev.EventID, data, refSys, refID}
		if ev.Entity != hub.EntityCustomer {
			// The record's value fact goes in its row (value_facts.go);
			// NULL with the figures off.
			fact := s.valueFact(it.linked)
			if v.stored && !s.pg {
				updRows = append(updRows, []any{rkey, it.at, b2i(it.del), ev.EventID, data, refSys, refID, fact})
			} else {
				recRows = append(recRows, append(row, fact))
			}
			continue
		}
		p := &pendingRec{row: row, stored: v.stored, echo: it.echo, state: recState{event: ev.EventID, golden: v.golden, deleted: it.del, customer: true}}
		b.pending[rkey] = p
		custKeys = append(custKeys, rkey)
		b.dirty[rkey] = true
		if v.golden != "" {
			b.seedsG[v.golden] = true
		}
		oldKeys, err := decodeList[string](v.mkeys)
		if err != nil {
			return fmt.Errorf("stored record %s: match keys: %w", rkey, err)
		}
		var newKeys []string
		if it.del {
			// A trusted entry says the record is live.
			s.cache.drop([]string{rkey})
		} else {
			rec := identity.Record{System: ev.System, SourceEntity: ev.SourceEntity, SourceID: ev.SourceID,
				UpdatedAt: fromNanos(it.at), Customer: *it.cust}
			p.rec = rec
			// Relinking and re-clustering below read this version again.
			s.cache.put(rkey, ev.EventID, rec)
			b.cached = append(b.cached, rkey)
			newKeys = uniq(s.res.MatchKeys(rec))
			keysOf[rkey] = newKeys
			p.state.mkeys = encodeList(newKeys)
		}
		// Only the keys that changed are written: a new version mostly
		// keeps its keys, and each is an index entry.
		add, drop := diffSets(oldKeys, newKeys)
		for _, k := range add {
			keyRows = append(keyRows, []any{k, rkey})
			if identity.IsBlockKey(k) {
				entered[k]++
			}
		}
		for _, k := range drop {
			dropKeys = append(dropKeys, []any{k, rkey})
			// An e-mail or phone a record leaves may fall back to the
			// cap under which it joins again (crossingMembers); one a
			// record takes is followed by resolution anyway.
			left[k]++
		}
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO records
  (rkey, system, source_entity, source_id, entity, updated_at, deleted, event_id, data, ref_system, ref_id, value_fact) `,
		"text,text,text,text,text,bigint,integer,text,text,text,text,text",
		s.pgOnly(` ON CONFLICT (rkey) DO UPDATE SET updated_at = excluded.updated_at, deleted = excluded.deleted,
  event_id = excluded.event_id, data = excluded.data, ref_system = excluded.ref_system, ref_id = excluded.ref_id,
  value_fact = excluded.value_fact`), recRows); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	// SQLite: stored records get a plain UPDATE (see insertRows for why
	// not the upsert).
	if err := s.insertRows(ctx, tx, `UPDATE records SET updated_at = v.column2, deleted = v.column3, event_id = v.column4,
  data = v.column5, ref_system = v.column6, ref_id = v.column7, value_fact = v.column8 FROM (`, "text,bigint,integer,text,text,text,text,text",
		`) AS v WHERE records.rkey = v.column1`, updRows); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	if err := s.deleteRows(ctx, tx, dropMatchKeys, dropKeys); err != nil {
		return fmt.Errorf("clear match keys: %w", err)
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO match_keys (mkey, rkey) `, "text,text", ` ON CONFLICT DO NOTHING`, keyRows); err != nil {
		return fmt.Errorf("write match keys: %w", err)
	}
	extra, err := s.crossingMembers(ctx, b, entered, left, keysOf)
	if err != nil {
		return err
	}
	return s.relink(ctx, b, append(custKeys, extra...), keysOf)
}

// writePending writes the batch's customer records with the golden ids
// resolution gave them (golden, by record key; none for deleted ones).
func (s *Store) writePending(ctx context.Context, b *batch, golden map[string]string) error {
	var insRows, updRows [][]any
	for _, rkey := range sortedPendingKeys(b.pending) {
		p := b.pending[rkey]
		var g any
		if id := golden[rkey]; id != "" && !p.state.deleted {
			g = id
		}
		if p.stored && !s.pg {
			r := p.row
			updRows = append(updRows, []any{rkey, r[5], r[6], r[7], r[8], r[9], r[10], g, nullIfEmpty(p.state.mkeys)})
		} else {
			insRows = append(insRows, append(p.row[:len(p.row):len(p.row)], g, nullIfEmpty(p.state.mkeys)))
		}
	}
	if err := s.insertRows(ctx, b.tx, `INSERT INTO records
  (rkey, system, source_entity, source_id, entity, updated_at, deleted, event_id, data, ref_system, ref_id, golden_id, mkeys) `,
		"text,text,text,text,text,bigint,integer,text,text,text,text,text,text",
		s.pgOnly(` ON CONFLICT (rkey) DO UPDATE SET updated_at = excluded.updated_at, deleted = excluded.deleted,
  event_id = excluded.event_id, data = excluded.data, ref_system = excluded.ref_system, ref_id = excluded.ref_id,
  golden_id = excluded.golden_id, mkeys = excluded.mkeys`), insRows); err != nil {
		return fmt.Errorf("write customer records: %w", err)
	}
	if err := s.insertRows(ctx, b.tx, `UPDATE records SET updated_at = v.column2, deleted = v.column3, event_id = v.column4,
  data = v.column5, ref_system = v.column6, ref_id = v.column7, golden_id = v.column8, mkeys = v.column9 FROM (`, "text,bigint,integer,text,text,text,text,text,text",
		`) AS v WHERE records.rkey = v.column1`, updRows); err != nil {
		return fmt.Errorf("write customer records: %w", err)
	}
	return nil
}

func sortedPendingKeys(m map[string]*pendingRec) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedVersionKeys(m map[string]*version) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// rowDelete deletes rows by their whole primary key, given as a list of
// tuples; TestOwnedRowDeletesSeekThePrimaryKey checks that SQLite seeks
// the key for each tuple rather than scanning the table.
type rowDelete struct{ head, types, tail string }

var (
	dropMatchKeys    = rowDelete{`DELETE FROM match_keys WHERE (mkey, rkey) IN (`, "text,text", `)`}
	dropSearchValues = rowDelete{`DELETE FROM golden_attrs WHERE (attr, value, golden_id) IN (`, "text,text,text", `)`}
)

func (s *Store) deleteRows(ctx context.Context, tx *sql.Tx, d rowDelete, rows [][]any) error {
	return s.insertRows(ctx, tx, d.head, d.types, d.tail, rows)
}

// encodeList is how a list kept on its owner's row is stored
// (records.mkeys, goldens.attrs): a JSON array, "[]" when empty.
func encodeList[T any](list []T) string {
	if len(list) == 0 {
		return "[]"
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "[]" // lists of strings always marshal
	}
	return string(b)
}

// decodeList reads a list stored by encodeList; "" (NULL: a deleted
// record, a golden customer no longer active) is an empty list.
func decodeList[T any](s string) ([]T, error) {
	if s == "" {
		return nil, nil
	}
	var list []T
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, err
	}
	return list, nil
}

// nullIfEmpty stores "" as NULL.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// diffSets returns the elements of want not in have, and those of have
// not in want.
func diffSets[T comparable](have, want []T) (add, drop []T) {
	in := make(map[T]bool, len(have))
	for _, k := range have {
		in[k] = true
	}
	for _, k := range want {
		if !in[k] {
			add = append(add, k)
		}
		delete(in, k)
	}
	for _, k := range have {
		if in[k] {
			drop = append(drop, k)
			delete(in, k)
		}
	}
	return add, drop
}

func uniq(ss []string) []string {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return sortedKeys(m)
}

// pgOnly returns sql on PostgreSQL, "" on SQLite: the upsert clause of a
// statement whose stored rows SQLite updates separately (see insertRows).
func (s *Store) pgOnly(sql string) string {
	if s.pg {
		return sql
	}
	return ""
}

// fieldError is bad input in one field of an event.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return "field " + e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func invalid(field, format string, args ...any) error {
	return &fieldError{field: field, err: fmt.Errorf("%w: "+format, append([]any{hub.ErrInvalid}, args...)...)}
}

// decodeStrict reads canonical JSON, naming the field a type error is in.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalid(te.Field, "want %s, got JSON %s", te.Type, te.Value)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return invalid(strings.Trim(f, `"`), "unknown field")
		}
		return invalid("data", "%v", err)
	}
	return nil
}

func checkMoney(field string, m *hub.Money) error {
	if m == nil {
		return nil
	}
	if _, err := decimal.NewFromString(m.Amount); err != nil {
		return invalid(field+".amount", "not a decimal: %q", m.Amount)
	}
	if len(m.Currency) != 3 {
		return invalid(field+".currency", "not an ISO 4217 code: %q", m.Currency)
	}
	return nil
}

func checkRef(r hub.Ref) error {
	if r.System == "" {
		return invalid("customer_ref.system", "empty")
	}
	if r.ID == "" {
		return invalid("customer_ref.id", "empty")
	}
	return nil
}

// parse validates an upsert's data and returns the customer reference of
// linked records and the decoded linked record.
func parse(ev *hub.Envelope) (*hub.Customer, hub.Ref, any, error) {
	if len(ev.Data) == 0 {
		return nil, hub.Ref{}, nil, invalid("data", "empty for an upsert")
	}
	switch ev.Entity {
	case hub.EntityCustomer:
		var c hub.Customer
		if err := decodeStrict(ev.Data, &c); err != nil {
			return nil, hub.Ref{}, nil, err
		}
		if c.Kind != "person" && c.Kind != "organization" {
			return nil, hub.Ref{}, nil, invalid("kind", "want person or organization, got %q", c.Kind)
		}
		return &c, hub.Ref{}, nil, checkMoney("credit_limit", c.CreditLimit)
	case hub.EntityOrder:
		var o hub.Order
		if err := decodeStrict(ev.Data, &o); err != nil {
			return nil, hub.Ref{}, nil, err
		}
		if err := checkMoney("total", o.Total); err != nil {
			return nil, hub.Ref{}, nil, err
		}
		return nil, o.CustomerRef, &o, checkRef(o.CustomerRef)
	case hub.EntityPayment:
		var p hub.Payment
		if err := decodeStrict(ev.Data, &p); err != nil {
			return nil, hub.Ref{}, nil, err
		}
		switch p.Type {
		case "invoice", "payment", "credit_note":
		default:
			return nil, hub.Ref{}, nil, invalid("type", "want invoice, payment or credit_note, got %q", p.Type)
		}
		if err := checkMoney("amount", &p.Amount); err != nil {
			return nil, hub.Ref{}, nil, err
		}
		return nil, p.CustomerRef, &p, checkRef(p.CustomerRef)
	case hub.EntityServiceCase:
		var c hub.ServiceCase
		if err := decodeStrict(ev.Data, &c); err != nil {
			return nil, hub.Ref{}, nil, err
		}
		return nil, c.CustomerRef, &c, checkRef(c.CustomerRef)
	}
	return nil, hub.Ref{}, nil, invalid("entity", "unknown entity %q", ev.Entity)
}

// newer reports whether version a (updated-at, is-delete, event id) wins
// over b. Ties of the timestamp go to the delete, then to the larger event
// id: arbitrary but the same in every arrival order.
func newer(aAt int64, aDel bool, aID string, bAt int64, bDel bool, bID string) bool {
	if aAt != bAt {
		return aAt > bAt
	}
	if aDel != bDel {
		return aDel
	}
	return aID > bID
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
