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
	cached  []string // record keys this transaction put in the cache
}

// Apply applies events in one transaction. See hub.Store.
func (s *Store) Apply(ctx context.Context, events []hub.Envelope) (hub.ApplyStats, error) {
	start := time.Now()
	b := &batch{dirty: map[string]bool{}, seedsG: map[string]bool{}, applied: map[string]int{}, skipped: map[string]int{}}
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		b.tx = tx
		if s.pg {
			// One writer at a time across hub instances: clustering reads
			// a component and rewrites it, which must not interleave.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7347002)`); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if err := s.write(ctx, b, items); err != nil {
			return err
		}
		return s.resolve(ctx, b)
	})
	if err != nil {
		s.cache.drop(b.cached)
		return hub.ApplyStats{}, err
	}
	s.m.observe(b, time.Since(start))
	s.countsCache.wrote()
	return b.stats, nil
}

// item is one validated event.
type item struct {
	ev   *hub.Envelope
	rkey string
	at   int64
	del  bool
	cust *hub.Customer
	ref  hub.Ref
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
		if it.cust, it.ref, err = parse(ev); err != nil {
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
	if err := s.eachChunk(ctx, tx, `SELECT event_id FROM applied_events WHERE event_id IN (%s)`, uniq(eventIDs), func(rows *sql.Rows) error {
		var id string
		err := rows.Scan(&id)
		seen[id] = true
		return err
	}); err != nil {
		return fmt.Errorf("read applied events: %w", err)
	}
	cur := map[string]*version{}
	if err := s.eachChunk(ctx, tx, `SELECT rkey, updated_at, deleted, event_id, golden_id, entity FROM records WHERE rkey IN (%s)`, uniq(rkeys), func(rows *sql.Rows) error {
		var (
			rkey string
			v    version
			del  int
			g    sql.NullString
		)
		if err := rows.Scan(&rkey, &v.at, &del, &v.event, &g, &v.entity); err != nil {
			return err
		}
		v.del, v.golden = del == 1, g.String
		cur[rkey] = &v
		return nil
	}); err != nil {
		return fmt.Errorf("read records: %w", err)
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
		newEvents = append(newEvents, []any{ev.EventID})
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
	if err := s.insertRows(ctx, tx, `INSERT INTO applied_events (event_id) VALUES `, 1, ``, newEvents); err != nil {
		return fmt.Errorf("record events: %w", err)
	}

	var recRows, keyRows [][]any
	var custKeys []string
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
		recRows = append(recRows, []any{rkey, ev.System, ev.SourceEntity, ev.SourceID, ev.Entity, it.at, b2i(it.del), ev.EventID, data, refSys, refID})
		if ev.Entity != hub.EntityCustomer {
			continue
		}
		custKeys = append(custKeys, rkey)
		b.dirty[rkey] = true
		if v.golden != "" {
			b.seedsG[v.golden] = true
		}
		if !it.del {
			rec := identity.Record{System: ev.System, SourceEntity: ev.SourceEntity, SourceID: ev.SourceID,
				UpdatedAt: fromNanos(it.at), Customer: *it.cust}
			// Relinking and re-clustering below read this version again.
			s.cache.put(rkey, ev.EventID, rec)
			b.cached = append(b.cached, rkey)
			for _, k := range s.res.MatchKeys(rec) {
				keyRows = append(keyRows, []any{k, rkey})
			}
		}
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO records
  (rkey, system, source_entity, source_id, entity, updated_at, deleted, event_id, data, ref_system, ref_id) VALUES `, 11,
		` ON CONFLICT (rkey) DO UPDATE SET updated_at = excluded.updated_at, deleted = excluded.deleted,
  event_id = excluded.event_id, data = excluded.data, ref_system = excluded.ref_system, ref_id = excluded.ref_id`, recRows); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	if err := s.execChunk(ctx, tx, `DELETE FROM match_keys WHERE rkey IN (%s)`, nil, custKeys); err != nil {
		return fmt.Errorf("clear match keys: %w", err)
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO match_keys (mkey, rkey) VALUES `, 2, ``, keyRows); err != nil {
		return fmt.Errorf("write match keys: %w", err)
	}
	return s.relink(ctx, tx, custKeys)
}

func sortedVersionKeys(m map[string]*version) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func uniq(ss []string) []string {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return sortedKeys(m)
}

// maxParams bounds the parameters of one statement (SQLite allows 32766,
// PostgreSQL 65535).
const maxParams = 8000

// insertRows runs head + "(?,..),(?,..)" + tail over rows, in chunks.
func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, head string, cols int, tail string, rows [][]any) error {
	per := maxParams / cols
	tuple := "(" + placeholders(cols) + ")"
	for i := 0; i < len(rows); i += per {
		part := rows[i:min(i+per, len(rows))]
		args := make([]any, 0, len(part)*cols)
		var q strings.Builder
		q.WriteString(head)
		for j, r := range part {
			if j > 0 {
				q.WriteByte(',')
			}
			q.WriteString(tuple)
			args = append(args, r...)
		}
		q.WriteString(tail)
		if _, err := tx.ExecContext(ctx, s.q(q.String()), args...); err != nil {
			return err
		}
	}
	return nil
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
// linked records.
func parse(ev *hub.Envelope) (*hub.Customer, hub.Ref, error) {
	if len(ev.Data) == 0 {
		return nil, hub.Ref{}, invalid("data", "empty for an upsert")
	}
	switch ev.Entity {
	case hub.EntityCustomer:
		var c hub.Customer
		if err := decodeStrict(ev.Data, &c); err != nil {
			return nil, hub.Ref{}, err
		}
		if c.Kind != "person" && c.Kind != "organization" {
			return nil, hub.Ref{}, invalid("kind", "want person or organization, got %q", c.Kind)
		}
		return &c, hub.Ref{}, checkMoney("credit_limit", c.CreditLimit)
	case hub.EntityOrder:
		var o hub.Order
		if err := decodeStrict(ev.Data, &o); err != nil {
			return nil, hub.Ref{}, err
		}
		if err := checkMoney("total", o.Total); err != nil {
			return nil, hub.Ref{}, err
		}
		return nil, o.CustomerRef, checkRef(o.CustomerRef)
	case hub.EntityPayment:
		var p hub.Payment
		if err := decodeStrict(ev.Data, &p); err != nil {
			return nil, hub.Ref{}, err
		}
		switch p.Type {
		case "invoice", "payment", "credit_note":
		default:
			return nil, hub.Ref{}, invalid("type", "want invoice, payment or credit_note, got %q", p.Type)
		}
		if err := checkMoney("amount", &p.Amount); err != nil {
			return nil, hub.Ref{}, err
		}
		return nil, p.CustomerRef, checkRef(p.CustomerRef)
	case hub.EntityServiceCase:
		var c hub.ServiceCase
		if err := decodeStrict(ev.Data, &c); err != nil {
			return nil, hub.Ref{}, err
		}
		return nil, c.CustomerRef, checkRef(c.CustomerRef)
	}
	return nil, hub.Ref{}, invalid("entity", "unknown entity %q", ev.Entity)
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
