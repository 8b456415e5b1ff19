package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/value"
)

// Customer value figures (hub/value) are kept per active golden customer
// in customer_value (migration 0018) and recomputed, inside the writing
// transaction, for every golden customer a batch or a steward action
// touched: the goldens of the batch's customer records before and after
// resolution, the goldens merged into those, and the goldens the batch's
// orders, payments and cases point at before and after the batch (a
// record re-pointed to another customer, or deleted, moves its figures
// too). Recomputing reads all of the customer's linked records, so the
// cost of a batch grows with the size of the customers it touches, not
// with the store.
//
// RFM and ABC are relative to all customers: the store scores each
// recomputed customer against the cut points of the last RefreshValue
// (value_breaks), and RefreshValue, run periodically, cuts new points
// from every customer and rescores them all (see docs/value.md).

// ValueOptions configure the value figures.
type ValueOptions struct {
	// Off turns the figures off: nothing is computed on apply (the
	// tables stay as they are).
	Off bool
	// Config holds thresholds and rates; nil means value.DefaultConfig.
	Config *value.Config
}

type valueState struct {
	off bool
	cfg value.Config
	now func() time.Time
}

func newValueState(o ValueOptions) (*valueState, error) {
	v := &valueState{off: o.Off, cfg: value.DefaultConfig(), now: time.Now}
	if o.Config != nil {
		v.cfg = *o.Config
	}
	if err := v.cfg.Validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// linkedEntities are the entities the figures are computed from.
var linkedEntities = []string{hub.EntityOrder, hub.EntityPayment, hub.EntityServiceCase}

// withValue runs fn (the batch's writes and resolution) and then
// recomputes the figures of every golden customer it touched.
func (s *Store) withValue(ctx context.Context, b *batch, items []item, fn func() error) error {
	if s.val.off {
		return fn()
	}
	// The references the batch's linked records had before it: a delete
	// or a re-pointed record leaves its old customer.
	var keys []string
	refs := map[hub.Ref]bool{}
	for _, it := range items {
		if it.ev.Entity == hub.EntityCustomer {
			continue
		}
		keys = append(keys, it.rkey)
		if it.ref.System != "" {
			refs[it.ref] = true
		}
	}
	if err := s.eachChunk(ctx, b.tx, `SELECT ref_system, ref_id FROM records WHERE ref_system IS NOT NULL AND rkey IN (%s)`, uniq(keys), func(r *sql.Rows) error {
		var ref hub.Ref
		err := r.Scan(&ref.System, &ref.ID)
		refs[ref] = true
		return err
	}); err != nil {
		return fmt.Errorf("value: read linked references: %w", err)
	}
	if err := fn(); err != nil {
		return err
	}
	return s.valueAfter(ctx, b, refs)
}

// valueAfter recomputes the figures of the goldens b touched and of the
// customers refs name.
func (s *Store) valueAfter(ctx context.Context, b *batch, refs map[hub.Ref]bool) error {
	if s.val.off {
		return nil
	}
	tx := b.tx
	ids := map[string]bool{}
	for g := range b.seedsG {
		ids[g] = true
	}
	scanID := func(r *sql.Rows) error {
		var id sql.NullString
		err := r.Scan(&id)
		if id.Valid {
			ids[id.String] = true
		}
		return err
	}
	if err := s.eachChunk(ctx, tx, `SELECT golden_id FROM records WHERE golden_id IS NOT NULL AND rkey IN (%s)`, sortedKeys(b.dirty), scanID); err != nil {
		return fmt.Errorf("value: goldens of the batch: %w", err)
	}
	bySystem := map[string][]string{}
	for r := range refs {
		bySystem[r.System] = append(bySystem[r.System], r.ID)
	}
	for sys, srcIDs := range bySystem {
		sort.Strings(srcIDs)
		for _, part := range s.keyChunks(srcIDs) {
			q, args := s.inList(`SELECT golden_id FROM records WHERE entity = 'customer' AND system = ? AND deleted = 0 AND golden_id IS NOT NULL AND source_id IN (%s)`, part)
			if err := s.scanAll(ctx, tx, s.q(q), append([]any{sys}, args...), scanID); err != nil {
				return fmt.Errorf("value: customers of linked records: %w", err)
			}
		}
	}
	// Goldens merged into one of these carry figures no more.
	if err := s.eachChunk(ctx, tx, `SELECT g.id FROM goldens g JOIN customer_value v ON v.golden_id = g.id WHERE g.merged_into IN (%s)`, sortedKeys(ids), scanID); err != nil {
		return fmt.Errorf("value: merged goldens: %w", err)
	}
	return s.refreshValues(ctx, tx, sortedKeys(ids), s.val.now())
}

// valueInput reads what golden's figures are computed from; ok is false
// when golden is not an active customer.
func (s *Store) valueInput(ctx context.Context, q readQueryer, golden string) (in value.Input, ok bool, err error) {
	var data sql.NullString
	err = q.QueryRowContext(ctx, s.q(`SELECT data FROM goldens WHERE id = ? AND status = 'active'`), golden).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return in, false, nil
	}
	if err != nil {
		return in, false, err
	}
	var c hub.Customer
	if err := json.Unmarshal([]byte(data.String), &c); err != nil {
		return in, false, fmt.Errorf("stored golden record: %w", err)
	}
	in.CreditLimit = c.CreditLimit
	var refs []linkedRef
	rows, err := q.QueryContext(ctx, s.q(`SELECT DISTINCT system, source_id FROM records WHERE golden_id = ? AND entity = 'customer' AND deleted = 0`), golden)
	if err != nil {
		return in, false, err
	}
	for rows.Next() {
		var r linkedRef
		if err := rows.Scan(&r.system, &r.id); err != nil {
			rows.Close()
			return in, false, err
		}
		refs = append(refs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return in, false, err
	}
	sort.Slice(refs, func(i, j int) bool {
		return refs[i].system < refs[j].system || refs[i].system == refs[j].system && refs[i].id < refs[j].id
	})
	for _, r := range refs {
		for _, entity := range linkedEntities {
			rows, err := q.QueryContext(ctx, s.q(`SELECT rkey, data `+linkedWhere), r.system, r.id, entity)
			if err != nil {
				return in, false, err
			}
			for rows.Next() {
				var rkey string
				var d sql.NullString
				if err := rows.Scan(&rkey, &d); err != nil {
					rows.Close()
					return in, false, err
				}
				if err := decodeInto(&in, entity, []byte(d.String)); err != nil {
					rows.Close()
					return in, false, fmt.Errorf("stored %s %s: %w", entity, rkey, err)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return in, false, err
			}
		}
	}
	return in, true, nil
}

func decodeInto(in *value.Input, entity string, data []byte) error {
	switch entity {
	case hub.EntityOrder:
		var o hub.Order
		err := json.Unmarshal(data, &o)
		in.Orders = append(in.Orders, o)
		return err
	case hub.EntityPayment:
		var p hub.Payment
		err := json.Unmarshal(data, &p)
		in.Payments = append(in.Payments, p)
		return err
	default:
		var c hub.ServiceCase
		err := json.Unmarshal(data, &c)
		in.Cases = append(in.Cases, c)
		return err
	}
}

// totalsKey is one row of value_totals.
type totalsKey struct{ dim, key, cur string }

type totalsDelta struct {
	rev       decimal.Decimal
	customers int64
}

// addTotals adds (sign +1) or removes (-1) one customer's revenue by
// dimension to the deltas.
func addTotals(d map[totalsKey]*totalsDelta, f *value.Figures, sign int64) {
	for dim, m := range map[string]map[string][]hub.Money{
		"category": f.Revenue.ByCategory, "channel": f.Revenue.ByChannel,
		"region": f.Revenue.ByRegion, "month": f.Revenue.ByMonth,
	} {
		for key, ms := range m {
			for _, money := range ms {
				amt, err := decimal.NewFromString(money.Amount)
				if err != nil {
					continue
				}
				k := totalsKey{dim, key, money.Currency}
				x := d[k]
				if x == nil {
					x = &totalsDelta{}
					d[k] = x
				}
				x.rev = x.rev.Add(amt.Mul(decimal.NewFromInt(sign)))
				x.customers += sign
			}
		}
	}
}

func (s *Store) storedFigures(ctx context.Context, q readQueryer, golden string) (*value.Figures, error) {
	var data string
	err := q.QueryRowContext(ctx, s.q(`SELECT figures FROM customer_value WHERE golden_id = ?`), golden).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f value.Figures
	if err := json.Unmarshal([]byte(data), &f); err != nil {
		return nil, fmt.Errorf("stored figures of %s: %w", golden, err)
	}
	return &f, nil
}

// cents is a base-currency amount in cents, the sortable revenue column.
func cents(m hub.Money) int64 {
	d, err := decimal.NewFromString(m.Amount)
	if err != nil {
		return 0
	}
	return d.Shift(2).Round(0).IntPart()
}

// refreshValues recomputes the figures of ids as of now: active
// customers get their row written, the others lose it; the totals move
// by the difference.
func (s *Store) refreshValues(ctx context.Context, tx *sql.Tx, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	breaks, err := s.valueBreaks(ctx, tx)
	if err != nil {
		return err
	}
	deltas := map[totalsKey]*totalsDelta{}
	for _, id := range ids {
		old, err := s.storedFigures(ctx, tx, id)
		if err != nil {
			return fmt.Errorf("value: %w", err)
		}
		in, active, err := s.valueInput(ctx, tx, id)
		if err != nil {
			return fmt.Errorf("value: customer %s: %w", id, err)
		}
		if old != nil {
			addTotals(deltas, old, -1)
		}
		if !active {
			if old != nil {
				if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM customer_value WHERE golden_id = ?`), id); err != nil {
					return fmt.Errorf("value: drop %s: %w", id, err)
				}
			}
			continue
		}
		f := value.Compute(in, now, s.val.cfg)
		f.Segment = breaks.Score(value.PointOf(&f))
		addTotals(deltas, &f, 1)
		if err := s.putValue(ctx, tx, id, &f); err != nil {
			return err
		}
	}
	return s.applyTotals(ctx, tx, deltas)
}

func (s *Store) putValue(ctx context.Context, tx *sql.Tx, id string, f *value.Figures) error {
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("value: encode %s: %w", id, err)
	}
	l := f.Loyalty
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO customer_value (golden_id, as_of, stage, segment, rfm, abc, revenue_12m, orders,
  first_order, last_order, interval_days, gap_before, lapsed_before, figures) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (golden_id) DO UPDATE SET as_of = excluded.as_of, stage = excluded.stage, segment = excluded.segment, rfm = excluded.rfm,
  abc = excluded.abc, revenue_12m = excluded.revenue_12m, orders = excluded.orders, first_order = excluded.first_order,
  last_order = excluded.last_order, interval_days = excluded.interval_days, gap_before = excluded.gap_before,
  lapsed_before = excluded.lapsed_before, figures = excluded.figures`),
		id, f.AsOf, string(l.Stage), f.Segment.Name, f.Segment.RFM, f.Segment.ABC, cents(f.Revenue.Base12m), f.Revenue.Orders,
		l.FirstOrder, l.LastOrder, l.IntervalDays, l.GapBeforeLast, l.LapsedBeforeLast, string(data))
	if err != nil {
		return fmt.Errorf("value: write %s: %w", id, err)
	}
	return nil
}

// applyTotals adds the deltas to value_totals, dropping rows no customer
// contributes to any more.
func (s *Store) applyTotals(ctx context.Context, tx *sql.Tx, deltas map[totalsKey]*totalsDelta) error {
	keys := make([]totalsKey, 0, len(deltas))
	for k, d := range deltas {
		if d.customers != 0 || !d.rev.IsZero() {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.dim < b.dim || a.dim == b.dim && (a.key < b.key || a.key == b.key && a.cur < b.cur)
	})
	for _, k := range keys {
		d := deltas[k]
		var (
			rev string
			n   int64
		)
		err := tx.QueryRowContext(ctx, s.q(`SELECT revenue, customers FROM value_totals WHERE dim = ? AND dkey = ? AND currency = ?`), k.dim, k.key, k.cur).Scan(&rev, &n)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			rev = "0"
		case err != nil:
			return fmt.Errorf("value: read totals: %w", err)
		}
		sum, err := decimal.NewFromString(rev)
		if err != nil {
			return fmt.Errorf("value: stored total %s/%s/%s: %w", k.dim, k.key, k.cur, err)
		}
		sum, n = sum.Add(d.rev), n+d.customers
		if n <= 0 {
			_, err = tx.ExecContext(ctx, s.q(`DELETE FROM value_totals WHERE dim = ? AND dkey = ? AND currency = ?`), k.dim, k.key, k.cur)
		} else {
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO value_totals (dim, dkey, currency, revenue, customers) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (dim, dkey, currency) DO UPDATE SET revenue = excluded.revenue, customers = excluded.customers`), k.dim, k.key, k.cur, sum.String(), n)
		}
		if err != nil {
			return fmt.Errorf("value: write totals: %w", err)
		}
	}
	return nil
}

// valueBreaks reads the cut points of the last refresh (none before the
// first: customers are then unscored until it runs).
func (s *Store) valueBreaks(ctx context.Context, q readQueryer) (value.Breaks, error) {
	var data string
	err := q.QueryRowContext(ctx, `SELECT data FROM value_breaks WHERE id = 1`).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return value.Breaks{}, nil
	}
	if err != nil {
		return value.Breaks{}, fmt.Errorf("value: read breaks: %w", err)
	}
	var b value.Breaks
	if err := json.Unmarshal([]byte(data), &b); err != nil {
		return value.Breaks{}, fmt.Errorf("value: stored breaks: %w", err)
	}
	return b, nil
}
