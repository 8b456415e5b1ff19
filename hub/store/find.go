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
// into (the view's ID then differs from id), with the first page of each
// linked list. ErrNotFound for unknown and retired ids.
func (s *Store) FindCustomerByID(ctx context.Context, id string) (*hub.CustomerView, error) {
	c, err := s.FindCustomer360(ctx, id, firstPages())
	if err != nil {
		return nil, err
	}
	return viewOf(c), nil
}

// FindCustomers searches active golden customers, ordered by id, each with
// the first page of each linked list.
func (s *Store) FindCustomers(ctx context.Context, f hub.CustomerFilter) ([]hub.CustomerView, error) {
	cs, err := s.FindCustomers360(ctx, f, firstPages())
	if err != nil {
		return nil, err
	}
	out := make([]hub.CustomerView, len(cs))
	for i := range cs {
		out[i] = *viewOf(&cs[i])
	}
	return out, nil
}

// firstPages asks for the first DefaultLimit records of every list: a
// CustomerView no longer holds every linked record, which for a large
// customer was most of the cost of reading it.
func firstPages() hub.LinkQuery {
	return hub.LinkQuery{Orders: &hub.LinkPage{}, Payments: &hub.LinkPage{}, Cases: &hub.LinkPage{}}
}

func viewOf(c *hub.Customer360) *hub.CustomerView {
	return &hub.CustomerView{GoldenCustomer: c.GoldenCustomer, Orders: c.Orders, Payments: c.Payments, Cases: c.Cases, OpenBalance: c.OpenBalance}
}

// goldenRow is a goldens row as the customer reads use it.
type goldenRow struct {
	status                string
	mergedInto, data, lin sql.NullString
	createdAt, updatedAt  int64
}

func (s *Store) goldenRow(ctx context.Context, q readQueryer, id string) (*goldenRow, error) {
	var r goldenRow
	err := q.QueryRowContext(ctx, s.q(`SELECT status, merged_into, data, lineage, created_at, updated_at FROM goldens WHERE id = ?`), id).
		Scan(&r.status, &r.mergedInto, &r.data, &r.lin, &r.createdAt, &r.updatedAt)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// GoldenSurvivor follows id's merges to the active golden customer
// holding it (hub.GoldenSurvivorReader).
func (s *Store) GoldenSurvivor(ctx context.Context, id string) (string, error) {
	cur, _, err := s.survivor(ctx, s.rdb, id)
	return cur, err
}

// survivor follows id's merges to the active golden customer and returns
// its id and row, so the caller need not read the row again.
func (s *Store) survivor(ctx context.Context, q readQueryer, id string) (string, *goldenRow, error) {
	cur := id
	for range 64 { // merge chains are short; the bound guards against a cycle
		r, err := s.goldenRow(ctx, q, cur)
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil, fmt.Errorf("customer %s: %w", id, hub.ErrNotFound)
		}
		if err != nil {
			return "", nil, fmt.Errorf("find customer %s: %w", id, err)
		}
		switch r.status {
		case "active":
			return cur, r, nil
		case "merged":
			cur = r.mergedInto.String
		default:
			return "", nil, fmt.Errorf("customer %s (retired): %w", id, hub.ErrNotFound)
		}
	}
	return "", nil, fmt.Errorf("customer %s: merge chain too long", id)
}

// findIDs returns the ids of the active golden customers f selects.
func (s *Store) findIDs(ctx context.Context, q readQueryer, f hub.CustomerFilter) ([]string, error) {
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
		var ranges []string
		for _, v := range nameVariants(n) { // Müller and Mueller alike
			ranges = append(ranges, `(value >= ? AND value < ?)`)
			args = append(args, v, v+"\U0010FFFF")
		}
		where = append(where, `g.id IN (SELECT golden_id FROM golden_attrs WHERE attr = 'name' AND (`+strings.Join(ranges, " OR ")+`))`)
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
	ids, err := s.strings(ctx, q, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find customers: %w", err)
	}
	return ids, nil
}

// golden loads one active golden customer with its sources and the ids
// merged into it.
// row is the customer's goldens row if the caller has read it, else nil.
func (s *Store) golden(ctx context.Context, q readQueryer, id string, row *goldenRow) (*hub.GoldenCustomer, error) {
	if row == nil {
		var err error
		row, err = s.goldenRow(ctx, q, id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("customer %s: %w", id, hub.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("load customer %s: %w", id, err)
		}
	}
	if row.status != "active" {
		return nil, fmt.Errorf("customer %s (%s): %w", id, row.status, hub.ErrNotFound)
	}
	g := &hub.GoldenCustomer{ID: id, CreatedAt: fromNanos(row.createdAt), UpdatedAt: fromNanos(row.updatedAt)}
	if err := json.Unmarshal([]byte(row.data.String), &g.Customer); err != nil {
		return nil, fmt.Errorf("customer %s: stored golden record: %w", id, err)
	}
	if err := json.Unmarshal([]byte(row.lin.String), &g.Lineage); err != nil {
		return nil, fmt.Errorf("customer %s: stored lineage: %w", id, err)
	}

	rows, err := q.QueryContext(ctx, s.q(`SELECT system, source_entity, source_id, updated_at, data FROM records
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
		g.Sources = append(g.Sources, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("customer %s: sources: %w", id, err)
	}

	merged, err := s.strings(ctx, q, `SELECT id FROM goldens WHERE merged_into = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("customer %s: merged ids: %w", id, err)
	}
	g.MergedFrom = merged
	return g, nil
}

func (s *Store) strings(ctx context.Context, q readQueryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, s.q(query), args...)
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
