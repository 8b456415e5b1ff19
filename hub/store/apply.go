package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
}

// Apply applies events in one transaction. See hub.Store.
func (s *Store) Apply(ctx context.Context, events []hub.Envelope) (hub.ApplyStats, error) {
	start := time.Now()
	b := &batch{dirty: map[string]bool{}, seedsG: map[string]bool{}, applied: map[string]int{}, skipped: map[string]int{}}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		b.tx = tx
		if s.pg {
			// One writer at a time across hub instances: clustering reads
			// a component and rewrites it, which must not interleave.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7347002)`); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		for i := range events {
			if err := s.applyOne(ctx, b, &events[i]); err != nil {
				ae := &hub.ApplyError{Index: i, EventID: events[i].EventID, System: events[i].System,
					SourceEntity: events[i].SourceEntity, SourceID: events[i].SourceID, Err: err}
				var fe *fieldError
				if errors.As(err, &fe) {
					ae.Field, ae.Err = fe.field, fe.err
				}
				return ae
			}
		}
		return s.resolve(ctx, b)
	})
	if err != nil {
		return hub.ApplyStats{}, err
	}
	s.m.observe(b, time.Since(start))
	return b.stats, nil
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

func (s *Store) applyOne(ctx context.Context, b *batch, ev *hub.Envelope) error {
	if ev.EventID == "" {
		return invalid("event_id", "empty")
	}
	if ev.System == "" || ev.SourceEntity == "" || ev.SourceID == "" {
		return invalid("source_system", "source system, entity and id are required")
	}
	if ev.Op != hub.OpUpsert && ev.Op != hub.OpDelete {
		return invalid("op", "want upsert or delete, got %q", ev.Op)
	}
	switch ev.Entity {
	case hub.EntityCustomer, hub.EntityOrder, hub.EntityPayment, hub.EntityServiceCase:
	default:
		return invalid("entity", "unknown entity %q", ev.Entity)
	}
	del := ev.Op == hub.OpDelete
	var cust *hub.Customer
	var ref hub.Ref
	if !del {
		var err error
		if cust, ref, err = parse(ev); err != nil {
			return err
		}
	}

	res, err := b.tx.ExecContext(ctx, s.q(`INSERT INTO applied_events (event_id) VALUES (?) ON CONFLICT (event_id) DO NOTHING`), ev.EventID)
	if err != nil {
		return fmt.Errorf("record event: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		b.stats.Skipped++
		b.skipped[ev.Entity]++
		return nil
	}

	rkey := identity.RecordKey(ev.System, ev.SourceEntity, ev.SourceID)
	at := ev.SourceUpdatedAt.UnixNano()
	if ev.SourceUpdatedAt.IsZero() {
		at = 0
	}
	var (
		oldAt    int64
		oldDel   int
		oldEvent string
		oldG     sql.NullString
		oldEnt   string
	)
	err = b.tx.QueryRowContext(ctx, s.q(`SELECT updated_at, deleted, event_id, golden_id, entity FROM records WHERE rkey = ?`), rkey).
		Scan(&oldAt, &oldDel, &oldEvent, &oldG, &oldEnt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read record: %w", err)
	default:
		if oldEnt != ev.Entity {
			return invalid("entity", "record was %s before, now %s", oldEnt, ev.Entity)
		}
		if !newer(at, del, ev.EventID, oldAt, oldDel == 1, oldEvent) {
			b.stats.Skipped++
			b.skipped[ev.Entity]++
			return nil
		}
	}

	var data any
	if !del {
		data = string(ev.Data)
	}
	var refSys, refID any
	if ref.System != "" {
		refSys, refID = ref.System, ref.ID
	}
	if _, err := b.tx.ExecContext(ctx, s.q(`INSERT INTO records
  (rkey, system, source_entity, source_id, entity, updated_at, deleted, event_id, data, ref_system, ref_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (rkey) DO UPDATE SET updated_at = excluded.updated_at, deleted = excluded.deleted,
  event_id = excluded.event_id, data = excluded.data, ref_system = excluded.ref_system, ref_id = excluded.ref_id`),
		rkey, ev.System, ev.SourceEntity, ev.SourceID, ev.Entity, at, b2i(del), ev.EventID, data, refSys, refID); err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	b.stats.Applied++
	b.applied[ev.Entity]++

	if ev.Entity != hub.EntityCustomer {
		return nil
	}
	b.dirty[rkey] = true
	if oldG.Valid {
		b.seedsG[oldG.String] = true
	}
	if _, err := b.tx.ExecContext(ctx, s.q(`DELETE FROM match_keys WHERE rkey = ?`), rkey); err != nil {
		return fmt.Errorf("clear match keys: %w", err)
	}
	if del {
		return nil
	}
	rec := identity.Record{System: ev.System, SourceEntity: ev.SourceEntity, SourceID: ev.SourceID, Customer: *cust}
	for _, k := range s.res.MatchKeys(rec) {
		if _, err := b.tx.ExecContext(ctx, s.q(`INSERT INTO match_keys (mkey, rkey) VALUES (?, ?)`), k, rkey); err != nil {
			return fmt.Errorf("write match key: %w", err)
		}
	}
	return nil
}
