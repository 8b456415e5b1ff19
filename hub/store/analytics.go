package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/value"
)

// CustomerValue returns the figures of an active golden customer, nil
// when it has none (figures off, or not computed yet). The stage and
// segment columns, which RefreshValue moves as days pass, win over the
// copy in the stored JSON.
func (s *Store) CustomerValue(ctx context.Context, golden string) (*value.Figures, error) {
	var (
		data, stage, segment, rfm, abc string
	)
	err := s.readRow(ctx, s.q(`SELECT figures, stage, segment, rfm, abc FROM customer_value WHERE golden_id = ?`), golden).
		Scan(&data, &stage, &segment, &rfm, &abc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("customer %s: value: %w", golden, err)
	}
	var f value.Figures
	if err := json.Unmarshal([]byte(data), &f); err != nil {
		return nil, fmt.Errorf("customer %s: stored value: %w", golden, err)
	}
	f.Loyalty.Stage = value.Stage(stage)
	f.Segment = segmentOf(rfm, abc, segment)
	return &f, nil
}

// readRow runs a read query on the read pool as a prepared statement
// once the cache has it (readStmts): preparing it per request was most of
// the cost of reading one customer's figures on SQLite.
func (s *Store) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.reads.get(query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.rdb.QueryRowContext(ctx, query, args...)
}

// readQuery is readRow for a query of many rows.
func (s *Store) readQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.reads.get(query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.rdb.QueryContext(ctx, query, args...)
}

func segmentOf(rfm, abc, name string) value.Segment {
	sg := value.Segment{RFM: rfm, ABC: abc, Name: name}
	if len(rfm) == 3 {
		sg.Recency, sg.Frequency, sg.Monetary = int(rfm[0]-'0'), int(rfm[1]-'0'), int(rfm[2]-'0')
	}
	return sg
}

// ValueCustomers lists active customers by revenue_12m (an index range
// per filter: customer_value_stage, _segment, _revenue).
func (s *Store) ValueCustomers(ctx context.Context, f value.ListFilter) ([]value.ListItem, error) {
	q, args, err := valueListQuery(f)
	if err != nil {
		return nil, err
	}
	rows, err := s.readQuery(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("value list: %w", err)
	}
	defer rows.Close()
	var out []value.ListItem
	for rows.Next() {
		var (
			it    value.ListItem
			data  sql.NullString
			cents int64
		)
		if err := rows.Scan(&it.ID, &data, &it.Stage, &it.Segment, &it.RFM, &it.ABC, &cents); err != nil {
			return nil, fmt.Errorf("value list: %w", err)
		}
		if err := json.Unmarshal([]byte(data.String), &it.Customer); err != nil {
			return nil, fmt.Errorf("customer %s: stored golden record: %w", it.ID, err)
		}
		it.Revenue12m = hub.Money{Amount: decimal.New(cents, -2).StringFixed(2), Currency: s.val.cfg.BaseCurrency}
		out = append(out, it)
	}
	return out, rows.Err()
}

// valueListQuery is ValueCustomers' query. A page reads an index range
// of customer_value in the page's order and stops at the limit, whatever
// the number of customers, with or without SQLite's statistics
// (TestSQLiteStatsPlans):
//   - the cursor is one row-value comparison, a range of the index's
//     (revenue_12m, golden_id); as "revenue < ? OR revenue = ? AND id < ?"
//     it was no range, and SQLite read every active golden customer and
//     sorted them all for each page after the first;
//   - CROSS JOIN keeps customer_value the outer table on SQLite (for
//     PostgreSQL it is an inner join like any other): without statistics
//     SQLite scanned goldens first, and sorted, for the first page too.
func valueListQuery(f value.ListFilter) (string, []any, error) {
	var (
		where = []string{"g.id = v.golden_id", "g.status = 'active'"}
		args  []any
	)
	add := func(col, v string) {
		if v != "" {
			where = append(where, "v."+col+" = ?")
			args = append(args, v)
		}
	}
	add("segment", f.Segment)
	add("stage", f.Stage)
	add("abc", f.ABC)
	cmp, dir := ">", "ASC"
	if f.Desc {
		cmp, dir = "<", "DESC"
	}
	if f.After != "" {
		c, id, ok := strings.Cut(f.After, ":")
		n, err := strconv.ParseInt(c, 10, 64)
		if !ok || err != nil || id == "" {
			return "", nil, fmt.Errorf("%w: %q", value.ErrBadCursor, f.After)
		}
		where = append(where, "(v.revenue_12m, v.golden_id) "+cmp+" (?, ?)")
		args = append(args, n, id)
	}
	q := `SELECT v.golden_id, g.data, v.stage, v.segment, v.rfm, v.abc, v.revenue_12m FROM customer_value v CROSS JOIN goldens g
WHERE ` + strings.Join(where, " AND ") + ` ORDER BY v.revenue_12m ` + dir + `, v.golden_id ` + dir + ` LIMIT ?`
	return q, append(args, pageLimit(f.Limit)), nil
}

// Segments counts customers and sums their revenue_12m by segment, stage
// and ABC class: the "group" rows of value_totals, kept by difference on
// every recompute and rebuilt by each refresh, so a few dozen rows are
// read whatever the number of customers.
func (s *Store) Segments(ctx context.Context) ([]value.SegmentCount, error) {
	rows, err := s.readQuery(ctx, `SELECT dkey, currency, revenue, customers FROM value_totals WHERE dim = 'group' ORDER BY dkey, currency`)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	defer rows.Close()
	out := []value.SegmentCount{}
	for rows.Next() {
		var (
			c        value.SegmentCount
			key, amt string
		)
		if err := rows.Scan(&key, &c.Revenue12m.Currency, &amt, &c.Customers); err != nil {
			return nil, fmt.Errorf("segments: %w", err)
		}
		parts := strings.SplitN(key, "|", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("segments: stored group %q", key)
		}
		c.Segment, c.Stage, c.ABC = parts[0], parts[1], parts[2]
		d, err := decimal.NewFromString(amt)
		if err != nil {
			return nil, fmt.Errorf("segments: stored total %s: %w", key, err)
		}
		c.Revenue12m.Amount = d.StringFixed(2)
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevenueBy reads the revenue totals by dim (one of value.Dimensions), kept on
// apply in value_totals: a few hundred rows whatever the store's size.
func (s *Store) RevenueBy(ctx context.Context, dim string) ([]value.RevenueRow, error) {
	rows, err := s.readQuery(ctx, s.q(`SELECT dkey, currency, revenue, customers FROM value_totals WHERE dim = ? ORDER BY dkey, currency`), dim)
	if err != nil {
		return nil, fmt.Errorf("revenue by %s: %w", dim, err)
	}
	defer rows.Close()
	out := []value.RevenueRow{}
	for rows.Next() {
		var (
			r   value.RevenueRow
			amt string
		)
		if err := rows.Scan(&r.Key, &r.Revenue.Currency, &amt, &r.Customers); err != nil {
			return nil, fmt.Errorf("revenue by %s: %w", dim, err)
		}
		d, err := decimal.NewFromString(amt)
		if err != nil {
			return nil, fmt.Errorf("revenue by %s: stored total %s: %w", dim, r.Key, err)
		}
		r.Revenue.Amount = d.StringFixed(2)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The margins, kept as dims of their own, joined by key and currency.
	margins := map[[2]string]string{}
	mrows, err := s.readQuery(ctx, s.q(`SELECT dkey, currency, revenue FROM value_totals WHERE dim = ?`), marginDim+dim)
	if err != nil {
		return nil, fmt.Errorf("margin by %s: %w", dim, err)
	}
	defer mrows.Close()
	for mrows.Next() {
		var key, cur, amt string
		if err := mrows.Scan(&key, &cur, &amt); err != nil {
			return nil, fmt.Errorf("margin by %s: %w", dim, err)
		}
		margins[[2]string{key, cur}] = amt
	}
	if err := mrows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if amt, ok := margins[[2]string{out[i].Key, out[i].Revenue.Currency}]; ok {
			d, err := decimal.NewFromString(amt)
			if err != nil {
				return nil, fmt.Errorf("margin by %s: stored total %s: %w", dim, out[i].Key, err)
			}
			out[i].Margin = &hub.Money{Amount: d.StringFixed(2), Currency: out[i].Revenue.Currency}
		}
	}
	return out, nil
}

// ValueCutStale reports whether the RFM and ABC cut points no longer fit
// the customers: none was cut yet (or it was cut from no customer) while
// customers with orders exist, as on a hub started on an empty store, or
// the number of customers with orders moved by more than a quarter since
// the cut, as while a first sync fills the store. It reads the breaks row
// and the few dozen segment group rows, so the server asks every second;
// re-cutting on a growth of a quarter reads every customer's figures at
// most 1 + 1/1.25 + 1/1.25^2 + ... = 5 times over a fill.
//
// While apply is busy (a sync running) it asks for four times or a
// quarter of the customers instead: each re-cut rewrites the segment of
// most customers, and each customer it moves goes out on the golden
// change stream again, so re-cutting by the quarter during a first sync
// republished every customer about 5 times (1 + 1/4 + 1/16 + ... = 4/3
// by the factor of four); the quarter applies again once apply is idle
// (cutStale), so the cut a finished sync leaves is as before. By the
// doubling (2 reads over a fill), the re-cuts during a first sync of
// 130,000 records moved 6,900 customers on the stream before its figures
// settled, a third of the value changes by then. Deferred marks
// still pending count as busy too: they are a sync's customers whose
// figures are about to move, and a recompute pass holding the writer for
// seconds looked to the server like apply gone idle (in a first sync of
// 130,000 records, 6 of the 9 re-cuts were by the quarter, and the
// re-cuts moved 11,000 customers on the golden change stream).
func (s *Store) ValueCutStale(ctx context.Context, busy bool) (bool, error) {
	if s.val.off {
		return false, nil
	}
	// While the first fill's sweep runs, the customers it has computed
	// grow from none to all: cutting as they grow (the first cut at its
	// first transaction, then at four times) moved the same customers
	// again and again before the cut its end makes due moved them all.
	if s.val.deferred {
		if sweeping, err := s.sweepPending(ctx, s.rdb); err != nil || sweeping {
			return false, err
		}
	}
	if !busy {
		pending, err := s.ValueMarksPending(ctx)
		if err != nil {
			return false, err
		}
		busy = pending
	}
	b, err := s.valueBreaks(ctx, s.rdb)
	if err != nil {
		return false, err
	}
	groups, err := s.Segments(ctx)
	if err != nil {
		return false, err
	}
	// Customers with a dated counted order are the ones the breaks are
	// cut from (rescore), and exactly those whose stage is not none.
	var n int64
	for _, g := range groups {
		if g.Stage != string(value.StageNone) {
			n += g.Customers
		}
	}
	return cutStale(n, int64(b.Customers), busy), nil
}

// cutStale: n customers with orders, cut the number the breaks were cut
// from; see ValueCutStale.
func cutStale(n, cut int64, busy bool) bool {
	switch {
	case n == 0:
		return false
	case cut == 0:
		return true
	case busy:
		return n >= 4*cut || 4*n <= cut
	}
	return 4*n > 5*cut || 5*n < 4*cut
}

// RefreshStats says what one RefreshValue did.
type RefreshStats struct {
	Recomputed int // customers whose figures were recomputed (stale or missing)
	Rescored   int // customers whose stage or segment changed
	Customers  int // customers the breaks were cut from (with orders)
	Facts      int // value facts back-filled (fillFacts)
}

// RefreshValue is the periodic part of the figures: it recomputes up to
// maxRecompute customers whose figures are of an earlier day or missing
// (after an upgrade, or with the figures off for a while), then cuts RFM
// and ABC breaks from every customer and re-derives every stage for
// today, writing the rows that changed. The server runs it every
// value.refresh_interval (docs/value.md). It also back-fills the value
// facts of a bounded window of records (fillFacts).
func (s *Store) RefreshValue(ctx context.Context, now time.Time, maxRecompute int) (RefreshStats, error) {
	var st RefreshStats
	if s.val.off {
		return st, nil
	}
	// While the first fill's sweep waits or runs, it computes the
	// customers without figures: recomputing them here was the same work
	// twice, and on a store still loading.
	sweeping := false
	if s.val.deferred {
		var err error
		if _, sweeping, err = s.readSweep(ctx, s.rdb); err != nil {
			return st, fmt.Errorf("value refresh: %w", err)
		}
	}
	today := now.UTC().Format(time.DateOnly)
	var missing, stale refreshBranch
	missing.query = s.q(`SELECT g.id FROM goldens g WHERE g.id > ? AND g.status = 'active'
  AND NOT EXISTS (SELECT 1 FROM customer_value v WHERE v.golden_id = g.id) ORDER BY g.id LIMIT ?`)
	stale.query = s.q(`SELECT golden_id FROM customer_value WHERE golden_id > ? AND as_of < ? ORDER BY golden_id LIMIT ?`)
	stale.args = []any{today}
	for !sweeping && st.Recomputed < maxRecompute {
		n := min(refreshPage, maxRecompute-st.Recomputed)
		ids, err := s.nextRefresh(ctx, &missing, &stale, n)
		if err != nil {
			return st, fmt.Errorf("value refresh: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		if err := s.valueTx(ctx, func(tx *sql.Tx) error { return s.refreshValues(ctx, tx, ids, now) }); err != nil {
			return st, fmt.Errorf("value refresh: %w", err)
		}
		st.Recomputed += len(ids)
		if len(ids) < n {
			break
		}
	}
	n, err := s.fillFacts(ctx)
	st.Facts = n
	if err != nil {
		return st, fmt.Errorf("value refresh: %w", err)
	}
	return st, s.valueTx(ctx, func(tx *sql.Tx) error { return s.rescore(ctx, tx, now, &st) })
}

// refreshPage is how many customers RefreshValue recomputes per
// transaction.
var refreshPage = 500

// refreshBranch is one of RefreshValue's two sources of customers to
// recompute (without figures, figures of an earlier day), read in id order
// from a cursor. Each page went through both sets from their start, so a
// refresh after midnight, when every customer is of an earlier day, read
// the whole store once per 500 customers: 0.3-0.7 s a page at 100,000.
type refreshBranch struct {
	query  string
	args   []any // between the cursor and the limit
	cursor string
	done   bool // read to its end in this run
	buf    []string
}

// fill reads up to n ids after b's cursor, unless b is done or holds
// ids still.
func (s *Store) fill(ctx context.Context, b *refreshBranch, n int) error {
	if b.done || len(b.buf) > 0 {
		return nil
	}
	args := append(append([]any{b.cursor}, b.args...), n)
	err := s.scanAll(ctx, s.rdb, b.query, args, func(r *sql.Rows) error {
		var id string
		err := r.Scan(&id)
		b.buf = append(b.buf, id)
		return err
	})
	if err != nil {
		return err
	}
	b.done = len(b.buf) < n
	return nil
}

// nextRefresh is the next n customers to recompute, the two branches'
// ids merged in id order, as one ORDER BY id over both would give them.
// An id read but not taken stays buffered for the next page.
func (s *Store) nextRefresh(ctx context.Context, a, b *refreshBranch, n int) ([]string, error) {
	if err := s.fill(ctx, a, n); err != nil {
		return nil, err
	}
	if err := s.fill(ctx, b, n); err != nil {
		return nil, err
	}
	var ids []string
	for len(ids) < n && (len(a.buf) > 0 || len(b.buf) > 0) {
		from := a
		if len(a.buf) == 0 || len(b.buf) > 0 && b.buf[0] < a.buf[0] {
			from = b
		}
		ids = append(ids, from.buf[0])
		from.cursor, from.buf = from.buf[0], from.buf[1:]
		if len(from.buf) == 0 && !from.done {
			// Its next ids may come before the other's: read on first.
			if err := s.fill(ctx, from, n); err != nil {
				return nil, err
			}
		}
	}
	return ids, nil
}

// valueTx runs fn in a write transaction that no Apply interleaves with.
func (s *Store) valueTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if s.pg {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7347002)`); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		return fn(tx)
	})
}

type scoredRow struct {
	id, stage, segment, rfm, abc string
	newStage, newSegment, newABC string
	cents                        int64
	point                        value.Point
	loyalty                      value.Loyalty
}

// rescore cuts new breaks from every customer and rewrites the stage and
// segment columns that changed.
func (s *Store) rescore(ctx context.Context, tx *sql.Tx, now time.Time, st *RefreshStats) error {
	today := now.UTC().Truncate(24 * time.Hour)
	var rows []scoredRow
	err := s.scanAll(ctx, tx, `SELECT golden_id, stage, segment, rfm, abc, revenue_12m, orders, first_order, last_order, interval_days,
  gap_before, lapsed_before FROM customer_value ORDER BY golden_id`, nil, func(r *sql.Rows) error {
		var (
			x     scoredRow
			cents int64
		)
		if err := r.Scan(&x.id, &x.stage, &x.segment, &x.rfm, &x.abc, &cents, &x.point.Orders, &x.loyalty.FirstOrder,
			&x.loyalty.LastOrder, &x.loyalty.IntervalDays, &x.loyalty.GapBeforeLast, &x.loyalty.LapsedBeforeLast); err != nil {
			return err
		}
		x.point.Monetary, x.cents = decimal.New(cents, -2), cents
		if t, err := time.Parse(time.DateOnly, x.loyalty.LastOrder); err == nil {
			x.point.DaysSince = max(int(today.Sub(t)/(24*time.Hour)), 0)
		}
		rows = append(rows, x)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read figures: %w", err)
	}
	var pts []value.Point
	for _, x := range rows {
		if x.point.Orders > 0 && x.loyalty.LastOrder != "" {
			pts = append(pts, x.point)
		}
	}
	b := value.Cut(pts, s.val.cfg)
	st.Customers = b.Customers
	var (
		moved   []string
		changed [][]any // golden_id, stage, segment, rfm, abc
	)
	for i := range rows {
		x := &rows[i]
		stage := string(x.loyalty.StageAt(today, s.val.cfg))
		sg := b.Score(x.point)
		x.newStage, x.newSegment, x.newABC = stage, sg.Name, sg.ABC
		if stage == x.stage && sg.Name == x.segment && sg.RFM == x.rfm && sg.ABC == x.abc {
			continue
		}
		st.Rescored++
		if valueClassOf(x.stage, x.segment, x.abc) != valueClassOf(stage, sg.Name, sg.ABC) {
			moved = append(moved, x.id)
		}
		changed = append(changed, []any{x.id, stage, sg.Name, sg.RFM, sg.ABC})
	}
	// A statement per chunk of customers, not per customer: a re-cut
	// moves the segment of most of them (an UPDATE each was 40% of a
	// re-cut in a first sync).
	if err := s.insertRows(ctx, tx, `UPDATE customer_value SET stage = v.column2, segment = v.column3, rfm = v.column4, abc = v.column5 FROM (`,
		"text,text,text,text,text", `) AS v WHERE customer_value.golden_id = v.column1`, changed); err != nil {
		return fmt.Errorf("rescore: %w", err)
	}
	if err := s.recordChanges(ctx, tx, moved, hub.ChangeValue, ""); err != nil {
		return err
	}
	// The segment groups moved with the stages and segments: rebuild them.
	type group struct {
		cents, n int64
	}
	groups := map[string]*group{}
	for _, x := range rows {
		k := groupKey(x.newSegment, x.newStage, x.newABC)
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
		}
		g.cents += x.cents
		g.n++
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM value_totals WHERE dim = 'group'`); err != nil {
		return fmt.Errorf("rebuild segment groups: %w", err)
	}
	for _, k := range sortedKeys(boolSet(groups)) {
		g := groups[k]
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO value_totals (dim, dkey, currency, revenue, customers) VALUES ('group', ?, ?, ?, ?)`),
			k, s.val.cfg.BaseCurrency, decimal.New(g.cents, -2).String(), g.n); err != nil {
			return fmt.Errorf("rebuild segment groups: %w", err)
		}
	}
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO value_breaks (id, at, data) VALUES (1, ?, ?)
ON CONFLICT (id) DO UPDATE SET at = excluded.at, data = excluded.data`), now.UnixNano(), string(data))
	return err
}
