package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

// A search page lists many customers and shows a few fields of each; it
// reads them from golden_summaries (migration 0022), one small row per
// active golden customer written with the golden record in the same
// transaction, instead of the goldens row and its decoded record. None of
// the fields is one a scope hides (hub/httpapi/scopes.go), so one stored
// summary serves every caller.

// summaryCols are golden_summaries' columns in the order summaryRow
// builds and scanSummary reads them.
const summaryCols = `id, kind, given_name, family_name, full_name, organization_name, email, phone, postal_code, city, country, created_at, updated_at`

// summaryTypes are summaryCols' PostgreSQL types, for insertRows.
const summaryTypes = "text,text,text,text,text,text,text,text,text,text,text,bigint,bigint"

// summaryRow is the golden_summaries row of golden customer id: the
// first e-mail, phone and address stand for the lists, as the 0022
// back-fill takes them.
func summaryRow(id string, c *hub.Customer, created, updated int64) []any {
	first := func(l []string) string {
		if len(l) == 0 {
			return ""
		}
		return l[0]
	}
	var a hub.Address
	if len(c.Addresses) > 0 {
		a = c.Addresses[0]
	}
	return []any{id, c.Kind, c.GivenName, c.FamilyName, c.FullName, c.OrganizationName,
		first(c.Emails), first(c.Phones), a.PostalCode, a.City, a.Country, created, updated}
}

// creditLimitText is the golden_summaries credit_limit of a customer:
// the JSON of its credit limit, "" without one (migration 0028). The
// value recompute reads it (goldenInputs) rather than the golden record.
func creditLimitText(m *hub.Money) (string, error) {
	if m == nil {
		return "", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("credit limit: %w", err)
	}
	return string(b), nil
}

// putSummaries replaces the summaries of the golden customers in rows
// (from summaryRow, and the credit limit after them, creditLimitText).
// Delete and insert, the same statements on both databases: the rows are
// small and few per batch.
func (s *Store) putSummaries(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if err := s.dropSummaries(ctx, tx, firstColumn(rows)); err != nil {
		return err
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO golden_summaries (`+summaryCols+`, credit_limit) `, summaryTypes+",text", ``, rows); err != nil {
		return fmt.Errorf("write summaries: %w", err)
	}
	return nil
}

// firstColumn lists the first column of rows, the golden id of rows
// built for insertRows.
func firstColumn(rows [][]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r[0].(string)
	}
	return out
}

// dropSummaries deletes the summaries of golden customers no longer
// active (merged, retired) or about to be rewritten.
func (s *Store) dropSummaries(ctx context.Context, tx *sql.Tx, ids []string) error {
	if err := s.execChunk(ctx, tx, `DELETE FROM golden_summaries WHERE id IN (%s)`, ids); err != nil {
		return fmt.Errorf("drop summaries: %w", err)
	}
	return nil
}

// scanSummary reads summaryCols (after any columns in pre) into g, a
// golden customer then holding the summary's fields only. g is filled in
// place: a hub.GoldenCustomer is large, and copies of it were most of a
// name page's allocated bytes.
func scanSummary(r *sql.Rows, g *hub.GoldenCustomer, pre ...any) error {
	var (
		c                    = &g.Customer
		email, phone         string
		a                    hub.Address
		createdAt, updatedAt int64
	)
	dest := append(pre, &g.ID, &c.Kind, &c.GivenName, &c.FamilyName, &c.FullName, &c.OrganizationName,
		&email, &phone, &a.PostalCode, &a.City, &a.Country, &createdAt, &updatedAt)
	if err := r.Scan(dest...); err != nil {
		return err
	}
	if email != "" {
		c.Emails = []string{email}
	}
	if phone != "" {
		c.Phones = []string{phone}
	}
	if a != (hub.Address{}) {
		c.Addresses = []hub.Address{a}
	}
	g.CreatedAt, g.UpdatedAt = fromNanos(createdAt), fromNanos(updatedAt)
	return nil
}

// FindCustomerSummaries searches as FindCustomers does and returns, per
// customer, the fields of its stored summary only: kind, names, first
// e-mail, phone and address (postal code, city, country), created and
// updated times.
func (s *Store) FindCustomerSummaries(ctx context.Context, f hub.CustomerFilter) ([]hub.GoldenCustomer, error) {
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("find customers: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	ctq := cachedTx{tx, &s.reads}
	if f.NameOnly() && (f.After == "" || f.AfterName != "") {
		return s.findByName(ctx, ctq, f)
	}
	ids, err := s.findIDs(ctx, ctq, f)
	if err != nil {
		return nil, err
	}
	// One statement for the page's rows (a page of 50 read one by one
	// spent more in 50 statement round trips than in the search).
	byID := make(map[string]*hub.GoldenCustomer, len(ids))
	for _, part := range s.keyChunks(ids) {
		q, args := s.inList(`SELECT `+summaryCols+` FROM golden_summaries WHERE id IN (%s)`, part)
		if err := s.scanAll(ctx, ctq, q, args, func(r *sql.Rows) error {
			g := new(hub.GoldenCustomer)
			if err := scanSummary(r, g); err != nil {
				return err
			}
			byID[g.ID] = g
			return nil
		}); err != nil {
			return nil, fmt.Errorf("load customer summaries: %w", err)
		}
	}
	out := make([]hub.GoldenCustomer, 0, len(ids))
	for _, id := range ids {
		if g, ok := byID[id]; ok {
			out = append(out, *g)
		}
	}
	return out, nil
}

// namesFrom reads a page of the customers with a name in a range, after a
// (name, id).
var namesFrom = `SELECT a.value, s.` + strings.ReplaceAll(summaryCols, ", ", ", s.") + `
FROM golden_attrs a JOIN golden_summaries s ON s.id = a.golden_id
WHERE a.attr = 'name' AND a.value >= CAST(? AS TEXT) AND a.value < CAST(? AS TEXT) AND (a.value, a.golden_id) > (CAST(? AS TEXT), CAST(? AS TEXT))
ORDER BY a.value, a.golden_id LIMIT CAST(? AS BIGINT)`

// findByName lists the active customers with a name starting with
// f.Name, in the order of that name, then id: the walk follows the
// (attr, value, golden_id) key of golden_attrs and stops after the page,
// where an order by id had to collect every match first (thousands for
// "mue"). A customer with several matching names is listed once, at the
// smallest.
func (s *Store) findByName(ctx context.Context, q readQueryer, f hub.CustomerFilter) ([]hub.GoldenCustomer, error) {
	prefixes := nameVariants(identity.NormalizeName(f.Name))
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit+1)
	type row struct {
		value string
		g     *hub.GoldenCustomer
	}
	// Search values exist for active customers only, and so do summaries:
	// the join needs no status. The placeholders are cast (stmtCache says
	// why): bare, SQLite planned the query again at every call, 8% of the
	// CPU of a name search.
	query := s.q(namesFrom)
	afterName, afterID := f.AfterName, f.After
	out := make([]hub.GoldenCustomer, 0, limit)
	for len(out) < limit {
		// Each spelling's range in order; merged, the page is the
		// smallest (name, id) pairs of all of them.
		var rows []row
		for _, prefix := range prefixes {
			err := s.scanAll(ctx, q, query, []any{prefix, prefix + "\U0010FFFF", afterName, afterID, limit - len(out)}, func(r *sql.Rows) error {
				x := row{g: new(hub.GoldenCustomer)}
				if err := scanSummary(r, x.g, &x.value); err != nil {
					return err
				}
				x.g.FoundBy = x.value
				rows = append(rows, x)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("find customers by name: %w", err)
			}
		}
		if len(rows) == 0 {
			break
		}
		sort.Slice(rows, func(i, j int) bool {
			return rows[i].value < rows[j].value || rows[i].value == rows[j].value && rows[i].g.ID < rows[j].g.ID
		})
		rows = slices.CompactFunc(rows, func(a, b row) bool { return a.value == b.value && a.g.ID == b.g.ID })
		for _, x := range rows[:min(len(rows), limit-len(out))] {
			afterName, afterID = x.value, x.g.ID
			if smallerMatch(x.g.Customer, prefixes, x.value) {
				continue // listed at its smaller name
			}
			out = append(out, *x.g)
		}
	}
	return out, nil
}

// smallerMatch reports whether the customer has a name matching one of
// the prefixes that sorts before value: it is listed there, once. The
// names are those of the summary, which holds every name searchNames
// indexes.
func smallerMatch(c hub.Customer, prefixes []string, value string) bool {
	for _, name := range searchNames(c) {
		for _, p := range prefixes {
			if name < value && strings.HasPrefix(name, p) {
				return true
			}
		}
	}
	return false
}
