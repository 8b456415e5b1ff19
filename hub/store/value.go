package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
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
// too). Recomputing reads the value facts of all of the customer's linked
// records (value_facts.go: a compact text per record, written with it),
// not their JSON, so the cost of a batch grows with the size of the
// customers it touches, not with the store.
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
	// Deferred: apply only marks the golden customers it touched
	// (value_dirty) and DrainValue, run every second or so by the
	// server, recomputes each once. Otherwise they are recomputed at the
	// end of every batch, in its transaction.
	Deferred bool
	// Config holds thresholds and rates; nil means value.DefaultConfig.
	Config *value.Config
	// Clock is the day the figures are computed for; nil means time.Now.
	Clock func() time.Time
}

type valueState struct {
	off      bool
	deferred bool
	cfg      value.Config
	now      func() time.Time
	// wall stamps the deferred marks (value_dirty first_at, last_at) and
	// is what DrainSettled measures quiet and lag against: wall time,
	// not the figures' day (now), which a config may fix.
	wall  func() time.Time
	fill  factFill   // the back-fill of value facts (fillFacts)
	sweep sweepState // the first fill (value_sweep.go)
}

func newValueState(o ValueOptions) (*valueState, error) {
	v := &valueState{off: o.Off, deferred: o.Deferred, cfg: value.DefaultConfig(), now: time.Now, wall: time.Now,
		fill: factFill{window: 10000, perRun: 500000}}
	if o.Config != nil {
		v.cfg = *o.Config
	}
	if o.Clock != nil {
		v.now = o.Clock
	}
	if err := v.cfg.Validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// withValue runs fn (the batch's writes and resolution) and then
// recomputes the figures of every golden customer it touched.
func (s *Store) withValue(ctx context.Context, b *batch, items []item, fn func() error) error {
	if s.val.off {
		return fn()
	}
	if err := fn(); err != nil {
		return err
	}
	// The customers the batch's linked records name now, and those they
	// named before it (read with their stored versions, b.oldRefs): a
	// delete or a re-pointed record leaves its old customer.
	refs := b.oldRefs
	if refs == nil {
		refs = map[hub.Ref]bool{}
	}
	for _, it := range items {
		if it.ev.Entity != hub.EntityCustomer && it.ref.System != "" {
			refs[it.ref] = true
		}
	}
	return s.valueAfter(ctx, b, refs)
}

// valueAfter recomputes the figures of the goldens b touched and of the
// customers refs name, or, deferred, marks them for DrainValue.
func (s *Store) valueAfter(ctx context.Context, b *batch, refs map[hub.Ref]bool) error {
	if s.val.off {
		return nil
	}
	tx := b.tx
	if s.val.deferred {
		if defers, err := s.sweepDefers(ctx, tx); err != nil || defers {
			return err
		}
	}
	ids := map[string]bool{}
	for g := range b.seedsG {
		ids[g] = true
	}
	if err := s.eachChunk(ctx, tx, `SELECT golden_id FROM records WHERE golden_id IS NOT NULL AND rkey IN (%s)`, sortedKeys(b.dirty), scanInto(ids)); err != nil {
		return fmt.Errorf("value: goldens of the batch: %w", err)
	}
	if s.val.deferred {
		// A mark keeps when it was first set and moves its last touch:
		// DrainSettled takes it once the customer stopped changing. A
		// touch within markGrain of the last one kept rewrites nothing
		// (a customer's records often arrive in consecutive batches):
		// the quiet is measured to that grain.
		at := s.val.wall().UnixMilli()
		rows := make([][]any, 0, len(ids)+len(refs))
		for _, id := range sortedKeys(ids) {
			rows = append(rows, []any{"", id, at, at})
		}
		// In key order, as the drain deletes them: PostgreSQL locks each
		// conflicting mark in the order given, and an upsert walking the
		// primary key in order touches each index page once.
		for _, r := range slices.SortedFunc(maps.Keys(refs), func(a, b hub.Ref) int {
			return cmp.Or(cmp.Compare(a.System, b.System), cmp.Compare(a.ID, b.ID))
		}) {
			rows = append(rows, []any{r.System, r.ID, at, at})
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO value_dirty (system, dkey, first_at, last_at) `, "text,text,bigint,bigint",
			fmt.Sprintf(` ON CONFLICT (system, dkey) DO UPDATE SET last_at = excluded.last_at WHERE value_dirty.last_at < excluded.last_at - %d`, markGrain.Milliseconds()), rows); err != nil {
			return fmt.Errorf("value: mark customers: %w", err)
		}
		return nil
	}
	if err := s.valueTargets(ctx, tx, ids, refs); err != nil {
		return err
	}
	return s.refreshValues(ctx, tx, sortedKeys(ids), s.val.now())
}

// scanInto scans one nullable id per row into ids.
func scanInto(ids map[string]bool) func(r *sql.Rows) error {
	return func(r *sql.Rows) error {
		var id sql.NullString
		err := r.Scan(&id)
		if id.Valid {
			ids[id.String] = true
		}
		return err
	}
}

// valueTargets adds to ids the goldens holding the customers refs name
// and the goldens merged into one of ids that still carry figures.
func (s *Store) valueTargets(ctx context.Context, tx *sql.Tx, ids map[string]bool, refs map[hub.Ref]bool) error {
	bySystem := map[string][]string{}
	for r := range refs {
		bySystem[r.System] = append(bySystem[r.System], r.ID)
	}
	for _, sys := range sortedKeys(boolSet(bySystem)) {
		srcIDs := bySystem[sys]
		sort.Strings(srcIDs)
		for _, part := range s.keyChunks(srcIDs) {
			q, args := s.inList(`SELECT golden_id FROM records WHERE entity = 'customer' AND system = ? AND deleted = 0 AND golden_id IS NOT NULL AND source_id IN (%s)`, part)
			if err := s.scanAll(ctx, tx, s.q(q), append([]any{sys}, args...), scanInto(ids)); err != nil {
				return fmt.Errorf("value: customers of linked records: %w", err)
			}
		}
	}
	return s.mergedWithFigures(ctx, tx, ids)
}

// mergedWithFigures adds to ids the goldens merged into one of them that
// still carry figures: their rows go, and the totals with them, when
// they are recomputed as inactive.
func (s *Store) mergedWithFigures(ctx context.Context, tx *sql.Tx, ids map[string]bool) error {
	if err := s.eachChunk(ctx, tx, `SELECT g.id FROM goldens g JOIN customer_value v ON v.golden_id = g.id WHERE g.merged_into IN (%s)`, sortedKeys(ids), scanInto(ids)); err != nil {
		return fmt.Errorf("value: merged goldens: %w", err)
	}
	return nil
}

// DrainValue recomputes the customers deferred apply marked (value.mode
// deferred), up to max marks at a time, and returns how many marks it
// took; 0 when none wait. DrainSettled (value_settle.go) is the pacing
// the server uses.
func (s *Store) DrainValue(ctx context.Context, max int) (int, error) {
	if _, err := s.sweepValues(ctx, max, true, 0, 0, nil); err != nil {
		return 0, err
	}
	n := 0
	err := s.valueTx(ctx, func(tx *sql.Tx) error {
		n = 0
		ids, refs := map[string]bool{}, map[hub.Ref]bool{}
		bySystem := map[string][]string{}
		if err := s.scanAll(ctx, tx, s.q(`SELECT system, dkey FROM value_dirty ORDER BY system, dkey LIMIT ?`), []any{max}, func(r *sql.Rows) error {
			var sys, key string
			if err := r.Scan(&sys, &key); err != nil {
				return err
			}
			if sys == "" {
				ids[key] = true
			} else {
				refs[hub.Ref{System: sys, ID: key}] = true
			}
			bySystem[sys] = append(bySystem[sys], key)
			n++
			return nil
		}); err != nil {
			return err
		}
		if err := s.valueTargets(ctx, tx, ids, refs); err != nil {
			return err
		}
		if err := s.refreshValues(ctx, tx, sortedKeys(ids), s.val.now()); err != nil {
			return err
		}
		for _, sys := range sortedKeys(boolSet(bySystem)) {
			for _, part := range s.keyChunks(bySystem[sys]) {
				q, args := s.inList(`DELETE FROM value_dirty WHERE system = ? AND dkey IN (%s)`, part)
				if _, err := tx.ExecContext(ctx, s.q(q), append([]any{sys}, args...)...); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("value drain: %w", err)
	}
	return n, nil
}

// ValuePending counts the deferred marks not yet recomputed, and the
// goldens the first fill's sweep has still to pass: 0 once every change
// applied so far is in the figures (a bench's "settled").
func (s *Store) ValuePending(ctx context.Context) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM value_dirty`).Scan(&n); err != nil {
		return 0, fmt.Errorf("value pending: %w", err)
	}
	if s.val.off || !s.val.deferred {
		return n, nil
	}
	left, err := s.sweepLeft(ctx, s.rdb)
	if err != nil {
		return 0, fmt.Errorf("value pending: %w", err)
	}
	return n + left, nil
}

// ValueMarksPending reports whether any deferred mark waits for its
// recompute, or the first fill's sweep for its goldens: a row or two
// read, where ValuePending counts them all.
func (s *Store) ValueMarksPending(ctx context.Context) (bool, error) {
	if s.val.off || !s.val.deferred {
		return false, nil
	}
	if yes, err := s.sweepPending(ctx, s.rdb); err != nil || yes {
		return yes, err
	}
	ok, err := anyRow(ctx, s.rdb, `SELECT 1 FROM value_dirty`)
	if err != nil {
		return false, fmt.Errorf("value marks pending: %w", err)
	}
	return ok, nil
}

// totalsView is the part of stored figures addTotals reads; the old
// figures of a recompute are decoded only so far (decoding them whole was
// a sixth of a recompute).
type totalsView struct {
	Revenue struct {
		Base12m    hub.Money              `json:"base_12m"`
		ByCategory map[string][]hub.Money `json:"by_category"`
		ByChannel  map[string][]hub.Money `json:"by_channel"`
		ByRegion   map[string][]hub.Money `json:"by_region"`
		ByMonth    map[string][]hub.Money `json:"by_month"`
	} `json:"revenue"`
	Margin *struct {
		ByCategory map[string][]hub.Money `json:"by_category"`
		ByChannel  map[string][]hub.Money `json:"by_channel"`
		ByRegion   map[string][]hub.Money `json:"by_region"`
		ByMonth    map[string][]hub.Money `json:"by_month"`
	} `json:"margin"`
	Payments struct {
		OverdueBalance []hub.Money `json:"overdue_balance"`
	} `json:"payments"`
}

// figures are v as figures holding what addTotals reads.
func (v *totalsView) figures() *value.Figures {
	f := &value.Figures{}
	r := &f.Revenue
	r.Base12m, r.ByCategory, r.ByChannel, r.ByRegion, r.ByMonth = v.Revenue.Base12m, v.Revenue.ByCategory, v.Revenue.ByChannel, v.Revenue.ByRegion, v.Revenue.ByMonth
	if m := v.Margin; m != nil {
		f.Margin = &value.Margin{ByCategory: m.ByCategory, ByChannel: m.ByChannel, ByRegion: m.ByRegion, ByMonth: m.ByMonth}
	}
	f.Payments.OverdueBalance = v.Payments.OverdueBalance
	return f
}

// totalsKey is one row of value_totals.
type totalsKey struct{ dim, key, cur string }

type totalsDelta struct {
	rev       value.Amount
	customers int64
}

// addTotals adds (sign +1) or removes (-1) one customer's revenue by
// dimension to the deltas. Amounts add as value.Amount: int64 sums, no
// decimal allocation per entry.
func addTotals(d map[totalsKey]*totalsDelta, f *value.Figures, sign int64) {
	add := func(k totalsKey, amt value.Amount) {
		x := d[k]
		if x == nil {
			x = &totalsDelta{}
			d[k] = x
		}
		if sign < 0 {
			amt = amt.Neg()
		}
		x.rev = x.rev.Add(amt)
		x.customers += sign
	}
	// The segment groups GET /v1/segments counts: one per segment, stage
	// and ABC class, with the base-currency revenue of the last 12 months.
	if amt, ok := value.ParseAmount(f.Revenue.Base12m.Amount); ok {
		add(totalsKey{"group", groupKey(f.Segment.Name, string(f.Loyalty.Stage), f.Segment.ABC), f.Revenue.Base12m.Currency}, amt)
	}
	// Overdue balance over all customers, per currency (key ""); a
	// customer counts where it has an overdue amount.
	for _, m := range f.Payments.OverdueBalance {
		if amt, ok := value.ParseAmount(m.Amount); ok && !amt.IsZero() {
			add(totalsKey{"overdue", "", m.Currency}, amt)
		}
	}
	dim := func(name string, m map[string][]hub.Money) {
		for key, ms := range m {
			for _, money := range ms {
				if amt, ok := value.ParseAmount(money.Amount); ok {
					add(totalsKey{name, key, money.Currency}, amt)
				}
			}
		}
	}
	dim("category", f.Revenue.ByCategory)
	dim("channel", f.Revenue.ByChannel)
	dim("region", f.Revenue.ByRegion)
	dim("month", f.Revenue.ByMonth)
	if m := f.Margin; m != nil {
		// Margins by dimension as dims of their own ("margin:category").
		dim(marginDim+"category", m.ByCategory)
		dim(marginDim+"channel", m.ByChannel)
		dim(marginDim+"region", m.ByRegion)
		dim(marginDim+"month", m.ByMonth)
	}
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
// by the difference. It reads set-wise (a few statements per chunk of
// customers, not per customer): a batch touches hundreds.
func (s *Store) refreshValues(ctx context.Context, tx *sql.Tx, ids []string, now time.Time) error {
	return s.refreshValuesOf(ctx, tx, ids, now, nil)
}

// refreshValuesOf is refreshValues with the inputs of some goldens read
// already (readGoldenInputs into known, in this transaction); it reads
// those of the others into known.
func (s *Store) refreshValuesOf(ctx context.Context, tx *sql.Tx, ids []string, now time.Time, known map[string]*goldenInputs) error {
	if len(ids) == 0 {
		return nil
	}
	breaks, err := s.valueBreaks(ctx, tx)
	if err != nil {
		return err
	}
	deltas := map[totalsKey]*totalsDelta{}
	for _, part := range s.keyChunks(ids) {
		if err := s.refreshChunk(ctx, tx, part, now, breaks, deltas, known); err != nil {
			return err
		}
	}
	return s.applyTotals(ctx, tx, deltas)
}

func (s *Store) refreshChunk(ctx context.Context, tx *sql.Tx, ids []string, now time.Time, breaks value.Breaks, deltas map[totalsKey]*totalsDelta, known map[string]*goldenInputs) error {
	// The stored rows: their JSON is decoded (in part, totalsView) only
	// for a customer whose figures changed, to take its old totals out.
	olds := map[string]*storedValue{}
	if err := s.eachChunk(ctx, tx, s.byValueID(valueRowsOf), ids, func(r *sql.Rows) error {
		var (
			id string
			v  storedValue
		)
		if err := r.Scan(&id, &v.data, &v.stage, &v.segment, &v.rfm, &v.abc); err != nil {
			return err
		}
		olds[id] = &v
		return nil
	}); err != nil {
		return fmt.Errorf("value: read figures: %w", err)
	}
	// The active goldens (those with a summary row), their credit limits
	// and their customer source records, in one statement per chunk
	// (goldenInputs); the drain has read those of its goldens already.
	if known == nil {
		known = map[string]*goldenInputs{}
	}
	var need []string
	for _, id := range ids {
		if _, ok := known[id]; !ok {
			need = append(need, id)
		}
	}
	if err := s.readGoldenInputs(ctx, tx, need, known); err != nil {
		return err
	}
	inputs := map[string]*value.Input{} // active goldens
	for _, id := range ids {
		if gi := known[id]; gi != nil {
			inputs[id] = &value.Input{CreditLimit: gi.credit}
		}
	}
	// The linked records naming the customer records (a record names a
	// customer by system and source id).
	owner, bySystem := ownersOfCustomers(ids, known)
	var backfill [][]any
	missing := map[string]linkedRef{} // records without a fact: rkey -> the customer it names
	addFact := func(ref linkedRef, rkey, fact string) error {
		// A record counts once per golden holding the customer it names
		// (one golden, unless mid-resolution).
		for _, id := range owner[ref] {
			if err := inputs[id].AddFact(fact); err != nil {
				return fmt.Errorf("stored fact of %s: %w", rkey, err)
			}
		}
		return nil
	}
	for _, sys := range sortedKeys(boolSet(bySystem)) {
		srcIDs := bySystem[sys]
		sort.Strings(srcIDs)
		for _, part := range s.keyChunks(srcIDs) {
			// The facts of the linked records (value_facts.go), read
			// from records_linked alone on SQLite (0024), concatenated
			// per customer in SQL (a fact is self-delimiting,
			// value.AddFacts): a row per customer rather than per
			// record spares the driver's per-row work and a string per
			// fact (reading them a third less CPU on the bench stream).
			// The keys of records without a fact are read after, for
			// the customers that have one.
			owners := make(map[string][]string, len(part))
			for _, id := range part {
				owners[id] = owner[linkedRef{sys, id}]
			}
			var refID sql.RawBytes
			var lacking []string // customers with records without a fact
			q, args := s.inList(s.factsQuery(), part)
			if err := s.scanAll(ctx, tx, s.q(q), append([]any{sys}, args...), func(r *sql.Rows) error {
				var (
					facts sql.NullString
					nulls int64
				)
				if err := r.Scan(&refID, &facts, &nulls); err != nil {
					return err
				}
				if nulls > 0 {
					lacking = append(lacking, string(refID))
				}
				if facts.String == "" {
					return nil
				}
				// A record counts once per golden holding the customer
				// it names (one golden, unless mid-resolution).
				for _, id := range owners[string(refID)] {
					if err := inputs[id].AddFacts(facts.String); err != nil {
						return fmt.Errorf("stored facts of the records of customer %s/%s: %w", sys, refID, err)
					}
				}
				return nil
			}); err != nil {
				return fmt.Errorf("value: read linked facts: %w", err)
			}
			if len(lacking) == 0 {
				continue
			}
			q, args = s.inList(`SELECT ref_id, rkey FROM records
WHERE ref_system = ? AND deleted = 0 AND ref_id IN (%s) AND entity <> 'customer' AND value_fact IS NULL`, lacking)
			if err := s.scanAll(ctx, tx, s.q(q), append([]any{sys}, args...), func(r *sql.Rows) error {
				var ref, rkey string
				if err := r.Scan(&ref, &rkey); err != nil {
					return err
				}
				missing[rkey] = linkedRef{sys, ref}
				return nil
			}); err != nil {
				return fmt.Errorf("value: read records without a fact: %w", err)
			}
		}
	}
	if err := s.eachChunk(ctx, tx, `SELECT rkey, entity, data FROM records WHERE rkey IN (%s)`, sortedKeys(boolSet(missing)), func(r *sql.Rows) error {
		var (
			rkey, entity string
			data         sql.NullString
		)
		if err := r.Scan(&rkey, &entity, &data); err != nil {
			return err
		}
		f, err := factOfData(entity, []byte(data.String))
		if err != nil {
			return fmt.Errorf("stored %s %s: %w", entity, rkey, err)
		}
		backfill = append(backfill, []any{rkey, f})
		return addFact(missing[rkey], rkey, f)
	}); err != nil {
		return fmt.Errorf("value: read records without a fact: %w", err)
	}
	if err := s.backfillFacts(ctx, tx, backfill); err != nil {
		return err
	}
	var (
		moved         []string
		dropped       []string // rows of customers no longer active
		added, stored [][]any  // rows to insert, rows to update
		buf, block    []byte   // the JSON of one customer's figures, and of its block
	)
	for _, id := range ids {
		old, in := olds[id], inputs[id]
		if in == nil {
			if old != nil {
				f, err := old.figures(id)
				if err != nil {
					return err
				}
				addTotals(deltas, f, -1)
				dropped = append(dropped, id)
			}
			continue
		}
		f := value.Compute(*in, now, s.val.cfg)
		f.Segment = breaks.Score(value.PointOf(&f))
		data := f.AppendJSON(buf[:0])
		buf = data
		if old != nil && old.same(string(data), &f) {
			continue // no write, no totals to move, no change to tell
		}
		var was valueClass
		if old != nil {
			of, err := old.figures(id)
			if err != nil {
				return err
			}
			addTotals(deltas, of, -1)
			was = valueClassOf(old.stage, old.segment, old.abc)
		}
		addTotals(deltas, &f, 1)
		block = f.AppendBlockJSON(block[:0])
		row := valueRow(id, &f, data, block)
		if old != nil {
			stored = append(stored, row)
		} else {
			added = append(added, row)
		}
		if was != valueClassOf(string(f.Loyalty.Stage), f.Segment.Name, f.Segment.ABC) {
			moved = append(moved, id)
		}
	}
	// A statement per chunk, not per customer: a first sync merges
	// thousands of goldens whose rows go (a statement each was a tenth of
	// a recompute).
	if err := s.execChunk(ctx, tx, s.byValueID(`DELETE FROM customer_value`+byValueIDHint+` WHERE golden_id IN (%s)`), dropped); err != nil {
		return fmt.Errorf("value: drop figures of inactive customers: %w", err)
	}
	if err := s.putValues(ctx, tx, added, stored); err != nil {
		return err
	}
	// The golden change stream hears of a customer whose class moved,
	// not of every recompute (docs/value.md).
	return s.recordChanges(ctx, tx, moved, hub.ChangeValue, "")
}

// factsQuery reads, per source customer of one system, the facts of its
// live linked records concatenated (in no particular order: Compute's
// result does not depend on it) and how many of them have none.
func (s *Store) factsQuery() string {
	agg := `group_concat(value_fact, '')`
	if s.pg {
		agg = `string_agg(value_fact, '')`
	}
	return `SELECT ref_id, ` + agg + `, sum(CASE WHEN value_fact IS NULL THEN 1 ELSE 0 END) FROM records
WHERE ref_system = ? AND deleted = 0 AND ref_id IN (%s) AND entity <> 'customer' GROUP BY ref_id`
}

// goldenInputs is what a recompute reads of an active golden customer
// besides the facts of its linked records: its credit limit and its
// customer source records.
type goldenInputs struct {
	credit    *hub.Money
	customers []linkedRef
}

// inputsOfGoldens reads the active goldens of a list (only those have a
// summary row), each with its credit limit and its customer records, a
// row per record (one with NULLs for a golden holding none). Read from
// the golden record and apart from the customer records, it was two
// statements per chunk of goldens and a JSON decoding of every record
// holding a credit limit: a third of reading a recompute's inputs
// (docs/value.md).
const inputsOfGoldens = `SELECT s.id, s.credit_limit, r.system, r.source_id FROM golden_summaries s
LEFT JOIN records r` + byGoldenHint + ` ON r.golden_id = s.id AND r.entity = 'customer' AND r.deleted = 0 WHERE s.id IN (%s)`

// ownersOfCustomers indexes the customer records of the goldens ids (their
// inputs in known; nil for one not active) by record: the goldens holding
// each (one, unless mid-resolution), and each system's source ids.
func ownersOfCustomers(ids []string, known map[string]*goldenInputs) (map[linkedRef][]string, map[string][]string) {
	owner := map[linkedRef][]string{}
	bySystem := map[string][]string{}
	for _, id := range ids {
		gi := known[id]
		if gi == nil {
			continue
		}
		for _, ref := range gi.customers {
			if !slices.Contains(owner[ref], id) {
				if len(owner[ref]) == 0 {
					bySystem[ref.system] = append(bySystem[ref.system], ref.id)
				}
				owner[ref] = append(owner[ref], id)
			}
		}
	}
	return owner, bySystem
}

// readGoldenInputs reads the inputs of ids into into: an entry for each,
// nil for a golden not active.
func (s *Store) readGoldenInputs(ctx context.Context, tx *sql.Tx, ids []string, into map[string]*goldenInputs) error {
	for _, id := range ids {
		into[id] = nil
	}
	if err := s.eachChunk(ctx, tx, s.byGolden(inputsOfGoldens), ids, func(r *sql.Rows) error {
		var (
			id, credit  string
			system, src sql.NullString
		)
		if err := r.Scan(&id, &credit, &system, &src); err != nil {
			return err
		}
		gi := into[id]
		if gi == nil {
			gi = &goldenInputs{}
			if credit != "" {
				gi.credit = new(hub.Money)
				if err := json.Unmarshal([]byte(credit), gi.credit); err != nil {
					return fmt.Errorf("customer %s: stored credit limit: %w", id, err)
				}
			}
			into[id] = gi
		}
		if system.Valid {
			gi.customers = append(gi.customers, linkedRef{system.String, src.String})
		}
		return nil
	}); err != nil {
		return fmt.Errorf("value: read goldens: %w", err)
	}
	return nil
}

// valueRowsOf reads the stored figures of a list of customers.
const valueRowsOf = `SELECT golden_id, figures, stage, segment, rfm, abc FROM customer_value` + byValueIDHint + ` WHERE golden_id IN (%s)`

// byValueIDHint marks where byValueID names the index.
const byValueIDHint = "/*by value id*/"

// byValueID makes query, a read or delete of the customer_value rows of
// a list of customers, seek its primary key on SQLite. Statistics taken
// while the table was small (PRAGMA optimize, early in a first sync) made
// the planner scan the whole table for each chunk of 512 ids instead,
// once it had grown: two thirds of reading the old rows in a recompute,
// and of the golden change stream's reading of the value block (a CPU
// profile of bench sync --people 20000, 2026-12-06). PostgreSQL plans
// from its statistics and has no such clause.
func (s *Store) byValueID(query string) string {
	return s.indexedBy(query, byValueIDHint, "sqlite_autoindex_customer_value_1")
}

// byGoldenHint marks where byGolden names the index.
const byGoldenHint = "/*by golden*/"

// byGolden makes query, a read of the records of a list of goldens, use
// records_golden on SQLite, which without statistics takes "entity =
// 'customer'" on records_lookup over "golden_id IN (...)" and steps
// through every customer record of the store for each chunk of goldens.
// PostgreSQL plans from its statistics and has no such clause.
func (s *Store) byGolden(query string) string {
	return s.indexedBy(query, byGoldenHint, "records_golden")
}

// byLinkedHint marks where byLinked names the index.
const byLinkedHint = "/*by linked*/"

// byLinked makes query, a scan of the linked records (parkedFrom), walk
// records_linked on SQLite whatever the statistics say: the index holds
// every column the scan tests, so only a parked record's row is read.
// PostgreSQL plans from its statistics and has no such clause.
func (s *Store) byLinked(query string) string {
	return s.indexedBy(query, byLinkedHint, "records_linked")
}

// indexedBy puts "INDEXED BY index" where hint marks query on SQLite, and
// takes the mark out on PostgreSQL, which has no such clause.
func (s *Store) indexedBy(query, hint, index string) string {
	if s.pg {
		return strings.Replace(query, hint, "", 1)
	}
	return strings.Replace(query, hint, " INDEXED BY "+index, 1)
}

// valueClass is what moves a customer on the golden change stream: its
// stage, segment and ABC class. The zero value is a customer without
// figures, which is the same as one without orders or revenue.
type valueClass struct{ stage, segment, abc string }

func valueClassOf(stage, segment, abc string) valueClass {
	if stage == string(value.StageNone) {
		stage = ""
	}
	if abc == "C" {
		abc = "" // no revenue, or unscored before the first cut
	}
	return valueClass{stage, segment, abc}
}

// boolSet is the key set of m.
func boolSet[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// storedValue is a customer_value row as a recompute reads it.
type storedValue struct{ data, stage, segment, rfm, abc string }

// same reports whether the row holds f, encoded as data, already.
func (v *storedValue) same(data string, f *value.Figures) bool {
	return v.data == data && v.stage == string(f.Loyalty.Stage) && v.segment == f.Segment.Name &&
		v.rfm == f.Segment.RFM && v.abc == f.Segment.ABC
}

// figures are the stored figures as far as addTotals reads them.
func (v *storedValue) figures(id string) (*value.Figures, error) {
	var tv totalsView
	if err := json.Unmarshal([]byte(v.data), &tv); err != nil {
		return nil, fmt.Errorf("value: stored figures of %s: %w", id, err)
	}
	f := tv.figures()
	// The columns, which RefreshValue moves, win over the JSON.
	f.Loyalty.Stage, f.Segment = value.Stage(v.stage), segmentOf(v.rfm, v.abc, v.segment)
	return f, nil
}

// valueColumns are the columns of customer_value in the order of
// valueRow, and valueTypes their PostgreSQL types.
const (
	valueColumns = `golden_id, as_of, stage, segment, rfm, abc, revenue_12m, orders, first_order, last_order, interval_days, gap_before, lapsed_before, figures, block`
	valueTypes   = "text,text,text,text,text,text,bigint,integer,text,text,integer,integer,integer,text,text"
)

// valueRow is a customer_value row; block is f.AppendBlockJSON (the
// column valueSummaries reads into a value.Block, migration 0029).
func valueRow(id string, f *value.Figures, data, block []byte) []any {
	l := f.Loyalty
	return []any{id, f.AsOf, string(l.Stage), f.Segment.Name, f.Segment.RFM, f.Segment.ABC, cents(f.Revenue.Base12m), f.Revenue.Orders,
		l.FirstOrder, l.LastOrder, l.IntervalDays, l.GapBeforeLast, l.LapsedBeforeLast, string(data), string(block)}
}

// putValues writes the rows of customers without figures (added) and
// rewrites those of customers with figures (stored), a statement per
// chunk of rows rather than one per customer.
func (s *Store) putValues(ctx context.Context, tx *sql.Tx, added, stored [][]any) error {
	if err := s.insertRows(ctx, tx, `INSERT INTO customer_value (`+valueColumns+`) `, valueTypes, ``, added); err != nil {
		return fmt.Errorf("value: write figures: %w", err)
	}
	if err := s.insertRows(ctx, tx, `UPDATE customer_value SET as_of = v.column2, stage = v.column3, segment = v.column4, rfm = v.column5,
  abc = v.column6, revenue_12m = v.column7, orders = v.column8, first_order = v.column9, last_order = v.column10,
  interval_days = v.column11, gap_before = v.column12, lapsed_before = v.column13, figures = v.column14, block = v.column15 FROM (`, valueTypes,
		`) AS v WHERE customer_value.golden_id = v.column1`, stored); err != nil {
		return fmt.Errorf("value: rewrite figures: %w", err)
	}
	return nil
}

// applyTotals adds the deltas to value_totals, dropping rows no customer
// contributes to any more. It reads the rows it moves in one statement
// and writes them in two (a read and a write per row was a tenth of a
// recompute pass: a chunk of customers moves a few hundred rows, one per
// dimension key, month and currency).
func (s *Store) applyTotals(ctx context.Context, tx *sql.Tx, deltas map[totalsKey]*totalsDelta) error {
	keys := make([]totalsKey, 0, len(deltas))
	for k, d := range deltas {
		if d.customers != 0 || !d.rev.IsZero() {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return a.dim < b.dim || a.dim == b.dim && (a.key < b.key || a.key == b.key && a.cur < b.cur)
	})
	rows := make([][]any, len(keys))
	for i, k := range keys {
		rows[i] = []any{k.dim, k.key, k.cur}
	}
	type stored struct {
		rev string
		n   int64
	}
	old := make(map[totalsKey]stored, len(keys))
	if err := s.queryRows(ctx, tx, `SELECT t.dim, t.dkey, t.currency, t.revenue, t.customers FROM (`, "text,text,text",
		`) AS v JOIN value_totals t ON t.dim = v.column1 AND t.dkey = v.column2 AND t.currency = v.column3`, rows, func(r *sql.Rows) error {
			var (
				k  totalsKey
				st stored
			)
			if err := r.Scan(&k.dim, &k.key, &k.cur, &st.rev, &st.n); err != nil {
				return err
			}
			old[k] = st
			return nil
		}); err != nil {
		return fmt.Errorf("value: read totals: %w", err)
	}
	var drop, put [][]any
	for _, k := range keys {
		d, st := deltas[k], old[k]
		if st.rev == "" {
			st.rev = "0"
		}
		sum, err := decimal.NewFromString(st.rev)
		if err != nil {
			return fmt.Errorf("value: stored total %s/%s/%s: %w", k.dim, k.key, k.cur, err)
		}
		sum, n := sum.Add(d.rev.Decimal()), st.n+d.customers
		if n <= 0 {
			drop = append(drop, []any{k.dim, k.key, k.cur})
		} else {
			put = append(put, []any{k.dim, k.key, k.cur, sum.String(), n})
		}
	}
	if err := s.insertRows(ctx, tx, `DELETE FROM value_totals WHERE (dim, dkey, currency) IN (`, "text,text,text", `)`, drop); err != nil {
		return fmt.Errorf("value: drop totals: %w", err)
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO value_totals (dim, dkey, currency, revenue, customers) `, "text,text,text,text,bigint",
		` ON CONFLICT (dim, dkey, currency) DO UPDATE SET revenue = excluded.revenue, customers = excluded.customers`, put); err != nil {
		return fmt.Errorf("value: write totals: %w", err)
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

// groupKey is the value_totals key of a segment group.
func groupKey(segment, stage, abc string) string { return segment + "|" + stage + "|" + abc }

// marginDim prefixes the value_totals dims of margins.
const marginDim = "margin:"

// valueSummaries sets the value block of the golden states in out (ids
// are its keys) from customer_value; customers without figures keep none.
// The columns, which RefreshValue moves, win over the stored JSON.
func (s *Store) valueSummaries(ctx context.Context, tx *sql.Tx, ids []string, out map[string]*hub.GoldenCustomer) error {
	if s.val.off {
		return nil
	}
	// The figures only of rows without a block (written before 0029).
	return s.eachChunk(ctx, tx, s.byValueID(`SELECT golden_id, stage, segment, rfm, abc, revenue_12m, block, CASE WHEN block IS NULL THEN figures END FROM customer_value`+byValueIDHint+` WHERE golden_id IN (%s)`), ids, func(r *sql.Rows) error {
		var (
			id          string
			block, data sql.NullString
			cents       int64
			v           hub.ValueSummary
			b           value.Block
		)
		if err := r.Scan(&id, &v.Stage, &v.Segment, &v.RFM, &v.ABC, &cents, &block, &data); err != nil {
			return err
		}
		if block.Valid {
			if err := json.Unmarshal([]byte(block.String), &b); err != nil {
				return fmt.Errorf("stored value block of %s: %w", id, err)
			}
		} else {
			// A row from before 0029, until its next recompute: the block
			// of its whole figures, as the recompute would write it.
			var f value.Figures
			if err := json.Unmarshal([]byte(data.String), &f); err != nil {
				return fmt.Errorf("stored figures of %s: %w", id, err)
			}
			b = f.Block()
		}
		v.AsOf, v.Revenue12mByCurrency, v.OpenBalance, v.OverdueBalance = b.AsOf, b.Revenue12m, b.Open, b.Overdue
		v.Revenue12m = hub.Money{Amount: decimal.New(cents, -2).StringFixed(2), Currency: s.val.cfg.BaseCurrency}
		if g := out[id]; g != nil {
			g.Value = &v
		}
		return nil
	})
}
