package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"modernc.org/sqlite"

	"github.com/crmhub/crmhub/hub"
)

// Orders, payments and service cases attach to a golden customer at read
// time through the customer source records they name (parked records
// attach as soon as their customer arrives). A customer may name many
// records (a wholesaler has tens of thousands of orders), so nothing here
// reads them all: a page is read per customer source record as an index
// range in page order (records_linked, migration 0009: newest link_at
// first, then rkey), limit+1 rows each, merged and cut in SQL; the open
// balance and the last contact are SQL aggregates. Only the rows of the
// page leave the database.

// readQueryer is what the linked-record reads need: a read transaction, or
// the reader pool.
type readQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// linkedRef is a customer source record as linked records name it.
type linkedRef struct{ system, id string }

// refsOf lists the distinct (system, source id) pairs of a golden
// customer's sources: a linked record names a customer by system and id,
// not by source entity.
func refsOf(g *hub.GoldenCustomer) []linkedRef {
	seen := map[linkedRef]bool{}
	var out []linkedRef
	for _, s := range g.Sources {
		r := linkedRef{s.System, s.SourceID}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// pageLimit caps a requested page size like the customer search's limit.
func pageLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// unionAll joins per-reference selects (which may end in ORDER BY and
// LIMIT) into one compound select: each is wrapped as a subquery, which
// both databases accept and a bare compound member is not in SQLite.
func unionAll(cols string, parts []string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&b, "SELECT %s FROM (%s) AS u%d", cols, p, i)
	}
	return b.String()
}

// linkedWhere selects one reference's live records of one entity; its
// parameters are ref system, ref id and entity.
const linkedWhere = `FROM records WHERE ref_system = ? AND ref_id = ? AND entity = ? AND deleted = 0`

type linkedRow struct{ at, rkey, data string }

// linkedPage reads one page of one entity's records linked to refs, and
// the cursor of the next page (nil on the last).
func (s *Store) linkedPage(ctx context.Context, q readQueryer, refs []linkedRef, entity string, p hub.LinkPage) ([]linkedRow, *hub.LinkCursor, error) {
	if len(refs) == 0 {
		return nil, nil, nil
	}
	limit := pageLimit(p.Limit)
	const sel = `SELECT rkey, link_at, data ` + linkedWhere
	var (
		parts []string
		args  []any
	)
	for _, r := range refs {
		if p.After == nil {
			parts = append(parts, sel+` ORDER BY link_at DESC, rkey LIMIT ?`)
			args = append(args, r.system, r.id, entity, limit+1)
			continue
		}
		// Two ranges, each one index seek: the rest of the cursor's date,
		// then the older dates. One "link_at < ? OR (link_at = ? AND rkey > ?)"
		// would make both databases walk every record newer than the
		// cursor, and records without a date all share one.
		parts = append(parts,
			sel+` AND link_at = ? AND rkey > ? ORDER BY link_at DESC, rkey LIMIT ?`,
			sel+` AND link_at < ? ORDER BY link_at DESC, rkey LIMIT ?`)
		args = append(args, r.system, r.id, entity, p.After.At, p.After.Key, limit+1,
			r.system, r.id, entity, p.After.At, limit+1)
	}
	query := parts[0]
	if len(parts) > 1 {
		query = unionAll("rkey, link_at, data", parts) + ` ORDER BY link_at DESC, rkey LIMIT ?`
		args = append(args, limit+1)
	}
	rows, err := q.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out := make([]linkedRow, 0, limit+1)
	for rows.Next() {
		var (
			r    linkedRow
			data sql.NullString
		)
		if err := rows.Scan(&r.rkey, &r.at, &data); err != nil {
			return nil, nil, err
		}
		r.data = data.String
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(out) <= limit {
		return out, nil, nil
	}
	last := out[limit-1]
	return out[:limit], &hub.LinkCursor{At: last.at, Key: last.rkey}, nil
}

// decodeLinked parses a page's stored JSON.
func decodeLinked[T any](rows []linkedRow, entity string) ([]T, error) {
	out := make([]T, len(rows))
	for i, r := range rows {
		if err := json.Unmarshal([]byte(r.data), &out[i]); err != nil {
			return nil, fmt.Errorf("stored %s %s: %w", entity, r.rkey, err)
		}
	}
	return out, nil
}

// newestLinked returns the largest link_at of an entity's records linked
// to refs: per reference the first entry of its index range. A first page
// (p, rows) starts with it already: records without a date sort last.
func (s *Store) newestLinked(ctx context.Context, q readQueryer, refs []linkedRef, entity string, p hub.LinkPage, rows []linkedRow) (string, error) {
	if p.After == nil {
		if len(rows) == 0 {
			return "", nil
		}
		return rows[0].at, nil
	}
	if len(refs) == 0 {
		return "", nil
	}
	parts := make([]string, len(refs))
	var args []any
	for i, r := range refs {
		parts[i] = `SELECT link_at ` + linkedWhere + ` AND link_at > '' ORDER BY link_at DESC LIMIT 1`
		args = append(args, r.system, r.id, entity)
	}
	var at sql.NullString
	err := q.QueryRowContext(ctx, s.q(`SELECT MAX(link_at) FROM (`+unionAll("link_at", parts)+`) AS x`), args...).Scan(&at)
	return at.String, err
}

// jsonDoc is the SQL expression that reads column data as JSON once per
// row, and jsonField a text field of it (path "a.b").
func (s *Store) jsonDoc() string {
	if s.pg {
		return `data::jsonb`
	}
	return `data`
}

func (s *Store) jsonField(doc, path string) string {
	if s.pg {
		return `(` + doc + ` #>> '{` + strings.ReplaceAll(path, ".", ",") + `}')`
	}
	return `json_extract(` + doc + `, '$.` + path + `')`
}

// utcMillis is the SQL expression normalising an RFC 3339 text to UTC
// with milliseconds, as link_at holds case opening times.
func (s *Store) utcMillis(expr string) string {
	if s.pg {
		return `crmhub_utc_millis(` + expr + `)`
	}
	return `strftime('%Y-%m-%dT%H:%M:%fZ', ` + expr + `)`
}

// caseContact returns the newest opening and the newest closing time of
// the service cases linked to refs. Closing times are not indexed: this
// reads every case of the customer, in the database.
func (s *Store) caseContact(ctx context.Context, q readQueryer, refs []linkedRef) (opened, closed string, err error) {
	if len(refs) == 0 {
		return "", "", nil
	}
	parts := make([]string, len(refs))
	var args []any
	for i, r := range refs {
		parts[i] = `SELECT link_at, ` + s.jsonDoc() + ` AS j ` + linkedWhere
		args = append(args, r.system, r.id, hub.EntityServiceCase)
	}
	var o, c sql.NullString
	err = q.QueryRowContext(ctx, s.q(`SELECT MAX(link_at), MAX(`+s.utcMillis(s.jsonField("j", "closed_at"))+`) FROM (`+
		unionAll("link_at, j", parts)+`) AS x`), args...).Scan(&o, &c)
	return o.String, c.String, err
}

// openBalance sums, per currency, invoices minus payments minus credit
// notes linked to refs, as OpenBalance does, in the database: exact
// NUMERIC on PostgreSQL, crmhub_decimal_sum (decimal arithmetic in Go,
// registered below) on SQLite, which has no exact decimal type.
func (s *Store) openBalance(ctx context.Context, q readQueryer, refs []linkedRef) ([]hub.Money, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	parts := make([]string, len(refs))
	var args []any
	for i, r := range refs {
		parts[i] = `SELECT ` + s.jsonDoc() + ` AS j ` + linkedWhere
		args = append(args, r.system, r.id, hub.EntityPayment)
	}
	amount := s.jsonField("j", "amount.amount")
	sign := `CASE WHEN ` + s.jsonField("j", "type") + ` = 'invoice' THEN 1 ELSE -1 END`
	sum := `crmhub_decimal_sum(` + amount + `, ` + sign + `)`
	if s.pg {
		sum = `CAST(SUM(` + sign + ` * ABS(CAST(` + amount + ` AS NUMERIC))) AS TEXT)`
	}
	cur := s.jsonField("j", "amount.currency")
	rows, err := q.QueryContext(ctx, s.q(`SELECT `+cur+`, `+sum+` FROM (`+unionAll("j", parts)+`) AS x
WHERE LOWER(COALESCE(`+s.jsonField("j", "status")+`, '')) NOT IN ('cancelled', 'canceled', 'void')
GROUP BY `+cur), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hub.Money
	for rows.Next() {
		var (
			m   hub.Money
			amt sql.NullString
		)
		if err := rows.Scan(&m.Currency, &amt); err != nil {
			return nil, err
		}
		if !amt.Valid { // every amount of the currency unreadable
			continue
		}
		m.Amount = amt.String
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out, nil
}

// links fills c with the pages, open balance and last contact lq asks for.
func (s *Store) links(ctx context.Context, q readQueryer, c *hub.Customer360, lq hub.LinkQuery) error {
	refs := refsOf(&c.GoldenCustomer)
	var last time.Time
	contact := func(at string) {
		if t, ok := contactTime(at); ok && t.After(last) {
			last = t
		}
	}
	if lq.Orders != nil {
		rows, next, err := s.linkedPage(ctx, q, refs, hub.EntityOrder, *lq.Orders)
		if err != nil {
			return fmt.Errorf("orders: %w", err)
		}
		if c.Orders, err = decodeLinked[hub.Order](rows, hub.EntityOrder); err != nil {
			return err
		}
		c.OrdersNext = next
		at, err := s.newestLinked(ctx, q, refs, hub.EntityOrder, *lq.Orders, rows)
		if err != nil {
			return fmt.Errorf("orders: last contact: %w", err)
		}
		contact(at)
	}
	if lq.Payments != nil {
		rows, next, err := s.linkedPage(ctx, q, refs, hub.EntityPayment, *lq.Payments)
		if err != nil {
			return fmt.Errorf("payments: %w", err)
		}
		if c.Payments, err = decodeLinked[hub.Payment](rows, hub.EntityPayment); err != nil {
			return err
		}
		c.PaymentsNext = next
		at, err := s.newestLinked(ctx, q, refs, hub.EntityPayment, *lq.Payments, rows)
		if err != nil {
			return fmt.Errorf("payments: last contact: %w", err)
		}
		contact(at)
		if c.OpenBalance, err = s.openBalance(ctx, q, refs); err != nil {
			return fmt.Errorf("open balance: %w", err)
		}
	}
	if lq.Cases != nil {
		rows, next, err := s.linkedPage(ctx, q, refs, hub.EntityServiceCase, *lq.Cases)
		if err != nil {
			return fmt.Errorf("service cases: %w", err)
		}
		if c.Cases, err = decodeLinked[hub.ServiceCase](rows, hub.EntityServiceCase); err != nil {
			return err
		}
		c.CasesNext = next
		opened, closed, err := s.caseContact(ctx, q, refs)
		if err != nil {
			return fmt.Errorf("service cases: last contact: %w", err)
		}
		contact(opened)
		contact(closed)
	}
	if !last.IsZero() {
		c.LastContact = &last
	}
	return nil
}

// contactTime reads a link_at value: a date (midnight UTC) or a UTC time.
func contactTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}

func init() {
	sqlite.MustRegisterFunction("crmhub_decimal_sum", &sqlite.FunctionImpl{
		NArgs:         2,
		Deterministic: true,
		MakeAggregate: func(sqlite.FunctionContext) (sqlite.AggregateFunction, error) { return &decimalSum{}, nil },
	})
}

// decimalSum is SQLite's crmhub_decimal_sum(amount, sign): the sum of
// sign * |amount| over decimal texts, exact, as text at the largest scale
// of its inputs (as PostgreSQL's NUMERIC sum is); NULL when no amount was
// readable. Amounts Apply would refuse are skipped, as OpenBalance does.
type decimalSum struct {
	sum   decimal.Decimal
	scale int32
	n     int
}

func (a *decimalSum) term(args []driver.Value) (decimal.Decimal, bool) {
	var text string
	switch v := args[0].(type) {
	case string:
		text = v
	case []byte:
		text = string(v)
	default:
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(text)
	if err != nil {
		return decimal.Decimal{}, false
	}
	if -d.Exponent() > a.scale {
		a.scale = -d.Exponent()
	}
	d = d.Abs()
	if sign, _ := args[1].(int64); sign < 0 {
		d = d.Neg()
	}
	return d, true
}

func (a *decimalSum) Step(_ *sqlite.FunctionContext, args []driver.Value) error {
	if d, ok := a.term(args); ok {
		a.sum = a.sum.Add(d)
		a.n++
	}
	return nil
}

func (a *decimalSum) WindowInverse(_ *sqlite.FunctionContext, args []driver.Value) error {
	if d, ok := a.term(args); ok {
		a.sum = a.sum.Sub(d)
		a.n--
	}
	return nil
}

func (a *decimalSum) WindowValue(*sqlite.FunctionContext) (driver.Value, error) {
	if a.n == 0 {
		return nil, nil
	}
	return a.sum.StringFixed(a.scale), nil
}

func (a *decimalSum) Final(*sqlite.FunctionContext) {}

// readTx begins the read transaction one customer 360 is read in, so the
// golden record, its pages and aggregates are one state. PostgreSQL needs
// REPEATABLE READ for that (READ COMMITTED takes a snapshot per statement);
// a SQLite read transaction is one snapshot already.
func (s *Store) readTx(ctx context.Context) (*sql.Tx, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.pg {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return s.rdb.BeginTx(ctx, opts)
}

// FindCustomer360 returns the golden customer id, or the one it was merged
// into (ID then differs from id), with one page of each list q asks for.
func (s *Store) FindCustomer360(ctx context.Context, id string, q hub.LinkQuery) (*hub.Customer360, error) {
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("find customer %s: %w", id, err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	ctq := cachedTx{tx, &s.reads}
	cur, row, err := s.survivor(ctx, ctq, id)
	if err != nil {
		return nil, err
	}
	return s.customer360(ctx, ctq, cur, row, q)
}

// FindCustomers360 searches active golden customers, ordered by id, with
// one page of each list q asks for per customer.
func (s *Store) FindCustomers360(ctx context.Context, f hub.CustomerFilter, q hub.LinkQuery) ([]hub.Customer360, error) {
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("find customers: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	ctq := cachedTx{tx, &s.reads}
	ids, err := s.findIDs(ctx, ctq, f)
	if err != nil {
		return nil, err
	}
	out := make([]hub.Customer360, 0, len(ids))
	for _, id := range ids {
		c, err := s.customer360(ctx, ctq, id, nil, q)
		if errors.Is(err, hub.ErrNotFound) {
			continue // cannot happen in one snapshot; harmless if it did
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, nil
}

// customer360 reads one active golden customer (row: its goldens row, if
// read already) and its linked pages.
func (s *Store) customer360(ctx context.Context, q readQueryer, id string, row *goldenRow, lq hub.LinkQuery) (*hub.Customer360, error) {
	g, err := s.golden(ctx, q, id, row)
	if err != nil {
		return nil, err
	}
	c := &hub.Customer360{GoldenCustomer: *g}
	if err := s.links(ctx, q, c, lq); err != nil {
		return nil, fmt.Errorf("customer %s: linked records: %w", id, err)
	}
	return c, nil
}

// nameVariants are the spellings a name prefix is searched in: as typed,
// with umlauts written out (mü -> mue) and with written-out umlauts put
// back (mue -> mü), so "Müller" and "Mueller" find each other however the
// source and the user spelled them.
func nameVariants(prefix string) []string {
	out := []string{prefix}
	add := func(v string) {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	add(strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss").Replace(prefix))
	add(strings.NewReplacer("ae", "ä", "oe", "ö", "ue", "ü").Replace(prefix))
	return out
}
