package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

// Search limits.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// FindCustomerByID returns the golden customer id, or the one it was merged
// into (the view's ID then differs from id). ErrNotFound for unknown and
// retired ids.
func (s *Store) FindCustomerByID(ctx context.Context, id string) (*hub.CustomerView, error) {
	cur := id
	for range 64 { // merge chains are short; the bound guards against a cycle
		var (
			status string
			into   sql.NullString
		)
		err := s.rdb.QueryRowContext(ctx, s.q(`SELECT status, merged_into FROM goldens WHERE id = ?`), cur).Scan(&status, &into)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("customer %s: %w", id, hub.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("find customer %s: %w", id, err)
		}
		switch status {
		case "active":
			return s.view(ctx, cur)
		case "merged":
			cur = into.String
		default:
			return nil, fmt.Errorf("customer %s (retired): %w", id, hub.ErrNotFound)
		}
	}
	return nil, fmt.Errorf("customer %s: merge chain too long", id)
}

// FindCustomers searches active golden customers, ordered by id.
func (s *Store) FindCustomers(ctx context.Context, f hub.CustomerFilter) ([]hub.CustomerView, error) {
	var (
		where []string
		args  []any
	)
	attr := func(name, value string) {
		where = append(where, `g.id IN (SELECT golden_id FROM golden_attrs WHERE attr = ? AND value = ?)`)
		args = append(args, name, value)
	}
	if f.Email != "" {
		attr("email", identity.NormalizeEmail(f.Email))
	}
	if f.Phone != "" {
		p, err := identity.NormalizePhone(f.Phone, s.res.Config().DefaultRegion)
		if err != nil {
			return nil, fmt.Errorf("phone %q: %w: %v", f.Phone, hub.ErrInvalid, err)
		}
		attr("phone", p)
	}
	if f.TaxID != "" {
		attr("tax", identity.NormalizeTaxID(f.TaxID))
	}
	if n := identity.NormalizeName(f.Name); n != "" {
		// A byte-order range is a prefix match that uses the index in
		// both databases (PostgreSQL's column is COLLATE "C").
		where = append(where, `g.id IN (SELECT golden_id FROM golden_attrs WHERE attr = 'name' AND value >= ? AND value < ?)`)
		args = append(args, n, n+"\U0010FFFF")
	}
	if f.System != "" || f.SourceID != "" {
		if f.System == "" || f.SourceID == "" {
			return nil, fmt.Errorf("system and source_id go together: %w", hub.ErrInvalid)
		}
		where = append(where, `g.id IN (SELECT golden_id FROM records WHERE entity = 'customer' AND deleted = 0 AND system = ? AND source_id = ?)`)
		args = append(args, f.System, f.SourceID)
	}
	if f.After != "" {
		where = append(where, `g.id > ?`)
		args = append(args, f.After)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		limit = MaxLimit
	}
	query := `SELECT g.id FROM goldens g WHERE g.status = 'active'`
	for _, w := range where {
		query += ` AND ` + w
	}
	query += ` ORDER BY g.id LIMIT ?`
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("find customers: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find customers: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find customers: %w", err)
	}
	out := make([]hub.CustomerView, 0, len(ids))
	for _, id := range ids {
		v, err := s.view(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// view loads one active golden customer with its sources and linked records.
func (s *Store) view(ctx context.Context, id string) (*hub.CustomerView, error) {
	v := &hub.CustomerView{Orders: []hub.Order{}, Payments: []hub.Payment{}, Cases: []hub.ServiceCase{}}
	var (
		data, lin        string
		created, updated int64
	)
	err := s.rdb.QueryRowContext(ctx, s.q(`SELECT data, lineage, created_at, updated_at FROM goldens WHERE id = ?`), id).
		Scan(&data, &lin, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("customer %s: %w", id, hub.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load customer %s: %w", id, err)
	}
	v.ID, v.CreatedAt, v.UpdatedAt = id, fromNanos(created), fromNanos(updated)
	if err := json.Unmarshal([]byte(data), &v.Customer); err != nil {
		return nil, fmt.Errorf("customer %s: stored golden record: %w", id, err)
	}
	if err := json.Unmarshal([]byte(lin), &v.Lineage); err != nil {
		return nil, fmt.Errorf("customer %s: stored lineage: %w", id, err)
	}

	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT system, source_entity, source_id, updated_at, data FROM records
WHERE golden_id = ? AND deleted = 0 ORDER BY rkey`), id)
	if err != nil {
		return nil, fmt.Errorf("customer %s: sources: %w", id, err)
	}
	for rows.Next() {
		var (
			r  hub.SourceRecordRef
			at int64
			d  string
		)
		if err := rows.Scan(&r.System, &r.SourceEntity, &r.SourceID, &at, &d); err != nil {
			rows.Close()
			return nil, fmt.Errorf("customer %s: sources: %w", id, err)
		}
		r.UpdatedAt = fromNanos(at)
		if err := json.Unmarshal([]byte(d), &r.Customer); err != nil {
			rows.Close()
			return nil, fmt.Errorf("customer %s: source %s/%s/%s: %w", id, r.System, r.SourceEntity, r.SourceID, err)
		}
		v.Sources = append(v.Sources, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("customer %s: sources: %w", id, err)
	}

	merged, err := s.strings(ctx, `SELECT id FROM goldens WHERE merged_into = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("customer %s: merged ids: %w", id, err)
	}
	v.MergedFrom = merged

	// Linked records attach through the customer source records they name.
	seen := map[string]bool{}
	for _, src := range v.Sources {
		ref := src.System + "\x00" + src.SourceID
		if seen[ref] {
			continue
		}
		seen[ref] = true
		if err := s.linked(ctx, v, src.System, src.SourceID); err != nil {
			return nil, fmt.Errorf("customer %s: linked records: %w", id, err)
		}
	}
	sort.SliceStable(v.Orders, func(i, j int) bool { return v.Orders[i].OrderNumber < v.Orders[j].OrderNumber })
	sort.SliceStable(v.Payments, func(i, j int) bool { return v.Payments[i].DocumentNumber < v.Payments[j].DocumentNumber })
	sort.SliceStable(v.Cases, func(i, j int) bool { return v.Cases[i].CaseNumber < v.Cases[j].CaseNumber })
	v.OpenBalance = OpenBalance(v.Payments)
	return v, nil
}

func (s *Store) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var x string
		if err := rows.Scan(&x); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

func (s *Store) linked(ctx context.Context, v *hub.CustomerView, system, sourceID string) error {
	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT rkey, entity, data FROM records
WHERE ref_system = ? AND ref_id = ? AND deleted = 0 AND entity <> 'customer' ORDER BY rkey`), system, sourceID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var rkey, entity, data string
		if err := rows.Scan(&rkey, &entity, &data); err != nil {
			return err
		}
		var uerr error
		switch entity {
		case hub.EntityOrder:
			var o hub.Order
			uerr = json.Unmarshal([]byte(data), &o)
			v.Orders = append(v.Orders, o)
		case hub.EntityPayment:
			var p hub.Payment
			uerr = json.Unmarshal([]byte(data), &p)
			v.Payments = append(v.Payments, p)
		case hub.EntityServiceCase:
			var c hub.ServiceCase
			uerr = json.Unmarshal([]byte(data), &c)
			v.Cases = append(v.Cases, c)
		}
		if uerr != nil {
			return fmt.Errorf("stored %s %s: %w", entity, rkey, uerr)
		}
	}
	return rows.Err()
}

// OpenBalance sums, per currency, invoices minus payments minus credit
// notes, in decimal arithmetic. Cancelled and void documents do not count.
// The result is sorted by currency, at the largest scale of its inputs.
func OpenBalance(ps []hub.Payment) []hub.Money {
	sum := map[string]decimal.Decimal{}
	scale := map[string]int32{}
	for _, p := range ps {
		switch strings.ToLower(p.Status) {
		case "cancelled", "canceled", "void":
			continue
		}
		d, err := decimal.NewFromString(p.Amount.Amount)
		if err != nil {
			continue // Apply refuses such records; nothing stored is unreadable
		}
		if -d.Exponent() > scale[p.Amount.Currency] {
			scale[p.Amount.Currency] = -d.Exponent()
		}
		d = d.Abs()
		if p.Type != "invoice" {
			d = d.Neg()
		}
		sum[p.Amount.Currency] = sum[p.Amount.Currency].Add(d)
	}
	out := make([]hub.Money, 0, len(sum))
	for cur, d := range sum {
		out = append(out, hub.Money{Amount: d.StringFixed(scale[cur]), Currency: cur})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	if len(out) == 0 {
		return nil
	}
	return out
}
