package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/crmhub/hub"
)

// Ledger is write-back's record of what it wrote, per target record, in the
// store's own database (table writeback_ledger): every hub instance on one
// PostgreSQL reads what the others wrote, so none writes a value back
// because it did not know another instance had written it. It satisfies
// writeback.Ledger.
type Ledger struct{ s *Store }

// Ledger returns the store's write-back ledger.
func (s *Store) Ledger() *Ledger { return &Ledger{s: s} }

// Sizes of one statement: an IN list of ids, and rows of a multi-row upsert
// (5 parameters each), well below the parameter limits of both databases.
const (
	ledgerReadChunk  = 400
	ledgerWriteChunk = 100
)

// Written returns, for each id the ledger knows in target, the hash of the
// fields last written (or found) there and the touch fields of the last
// write (a JSON object, "" when crmhub found the values and wrote nothing).
// A batch of ids is one query (one per ledgerReadChunk ids).
func (l *Ledger) Written(ctx context.Context, target string, ids []string) (hashes, touches map[string]string, err error) {
	hashes, touches = make(map[string]string, len(ids)), make(map[string]string, len(ids))
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	for i := 0; i < len(ids); i += ledgerReadChunk {
		part := ids[i:min(i+ledgerReadChunk, len(ids))]
		args := make([]any, 0, len(part)+1)
		args = append(args, target)
		for _, id := range part {
			args = append(args, id)
		}
		q := `SELECT record_id, hash, touch FROM writeback_ledger WHERE target = ? AND record_id IN (` + ledgerParams(len(part)) + `)`
		rows, err := l.s.rdb.QueryContext(ctx, l.s.q(q), args...)
		if err != nil {
			return nil, nil, fmt.Errorf("write-back ledger %s: read: %w", target, err)
		}
		for rows.Next() {
			var id, h, t string
			if err := rows.Scan(&id, &h, &t); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("write-back ledger %s: read: %w", target, err)
			}
			hashes[id] = h
			if t != "" {
				touches[id] = t
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("write-back ledger %s: read: %w", target, err)
		}
	}
	return hashes, touches, nil
}

// Record stores the hash of each id in hashes, with its touch fields from
// touches ("" for an id that has none) and the echo of a write from echoes
// (an id without one keeps none), in one transaction of multi-row upserts.
// Rows go in id order, so two instances recording overlapping batches at
// once lock them in the same order and do not deadlock.
func (l *Ledger) Record(ctx context.Context, target string, hashes, touches map[string]string, echoes map[string]hub.WriteEcho) error {
	if len(hashes) == 0 {
		return nil
	}
	ids := make([]string, 0, len(hashes))
	for id := range hashes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	now := time.Now().UnixNano()
	err := l.s.inTx(ctx, func(tx *sql.Tx) error {
		for i := 0; i < len(ids); i += ledgerWriteChunk {
			part := ids[i:min(i+ledgerWriteChunk, len(ids))]
			var q strings.Builder
			q.WriteString(`INSERT INTO writeback_ledger (target, record_id, hash, touch, at, system, entity, written_at, business_at, echo_data, wrote) VALUES `)
			args := make([]any, 0, len(part)*11)
			for j, id := range part {
				if j > 0 {
					q.WriteByte(',')
				}
				q.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
				e, wrote := echoes[id]
				var w int64
				if wrote {
					w = now
				}
				args = append(args, target, id, hashes[id], touches[id], now, e.System, e.Entity, nanos(e.WrittenAt), nanos(e.BusinessAt), echoData(e), w)
			}
			// A record found or left as it is keeps the echo of the last
			// write: the system may still report that version.
			q.WriteString(` ON CONFLICT (target, record_id) DO UPDATE SET hash = excluded.hash, touch = excluded.touch, at = excluded.at,
  system = CASE WHEN excluded.written_at <> 0 THEN excluded.system ELSE writeback_ledger.system END,
  entity = CASE WHEN excluded.written_at <> 0 THEN excluded.entity ELSE writeback_ledger.entity END,
  business_at = CASE WHEN excluded.written_at <> 0 THEN excluded.business_at ELSE writeback_ledger.business_at END,
  echo_data = CASE WHEN excluded.written_at <> 0 THEN excluded.echo_data ELSE writeback_ledger.echo_data END,
  wrote = CASE WHEN excluded.wrote <> 0 THEN excluded.wrote ELSE writeback_ledger.wrote END,
  written_at = CASE WHEN excluded.written_at <> 0 THEN excluded.written_at ELSE writeback_ledger.written_at END`)
			if _, err := tx.ExecContext(ctx, l.s.q(q.String()), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write-back ledger %s: record: %w", target, err)
	}
	return nil
}

// ledgerParams is n comma-separated placeholders.
func ledgerParams(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// Conflicts returns target's conflicted write-backs (every target's when
// target is ""), in target and golden id order.
func (l *Ledger) Conflicts(ctx context.Context, target string) ([]hub.WritebackConflict, error) {
	q := `SELECT target, golden_id, at, seen, tries, steward, detail FROM writeback_conflicts`
	var args []any
	if target != "" {
		q += ` WHERE target = ?`
		args = append(args, target)
	}
	rows, err := l.s.rdb.QueryContext(ctx, l.s.q(q+` ORDER BY target, golden_id`), args...)
	if err != nil {
		return nil, fmt.Errorf("write-back conflicts %s: read: %w", target, err)
	}
	defer rows.Close()
	var out []hub.WritebackConflict
	for rows.Next() {
		var c hub.WritebackConflict
		var at, seen int64
		var steward int
		if err := rows.Scan(&c.Target, &c.GoldenID, &at, &seen, &c.Tries, &steward, &c.Detail); err != nil {
			return nil, fmt.Errorf("write-back conflicts %s: read: %w", target, err)
		}
		c.At, c.Steward = time.Unix(0, at).UTC(), steward != 0
		if seen != 0 {
			c.Seen = time.Unix(0, seen).UTC()
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("write-back conflicts %s: read: %w", target, err)
	}
	return out, nil
}

// SetConflicts stores the conflicts in set (by golden id, replacing what was
// there) and removes the golden ids in clear, in one transaction; an id in
// both is set.
func (l *Ledger) SetConflicts(ctx context.Context, target string, set []hub.WritebackConflict, clear []string) error {
	if len(set) == 0 && len(clear) == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	keep := make(map[string]bool, len(set))
	for _, c := range set {
		keep[c.GoldenID] = true
	}
	set = slices.Clone(set)
	slices.SortStableFunc(set, func(a, b hub.WritebackConflict) int { return strings.Compare(a.GoldenID, b.GoldenID) })
	err := l.s.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range slices.Compact(slices.Sorted(slices.Values(clear))) {
			if keep[id] {
				continue
			}
			if _, err := tx.ExecContext(ctx, l.s.q(`DELETE FROM writeback_conflicts WHERE target = ? AND golden_id = ?`), target, id); err != nil {
				return err
			}
		}
		for i, c := range set {
			if i+1 < len(set) && set[i+1].GoldenID == c.GoldenID {
				continue // the last one of an id wins
			}
			var seen int64
			if !c.Seen.IsZero() {
				seen = c.Seen.UnixNano()
			}
			steward := 0
			if c.Steward {
				steward = 1
			}
			if _, err := tx.ExecContext(ctx, l.s.q(`INSERT INTO writeback_conflicts (target, golden_id, at, seen, tries, steward, detail) VALUES (?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (target, golden_id) DO UPDATE SET at = excluded.at, seen = excluded.seen, tries = excluded.tries, steward = excluded.steward, detail = excluded.detail`),
				target, c.GoldenID, now, seen, c.Tries, steward, c.Detail); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write-back conflicts %s: record: %w", target, err)
	}
	return nil
}

// echoes finds which customer items of a batch are crmhub's own write-back
// coming back (the record at exactly the version the ledger says crmhub
// wrote) and sets their time to the golden time the write carried, or just
// after the record's stored version when that is later: the values apply,
// but a write-back does not make the system the newest source of the
// record's other fields (survivorship's most_recent).
func (s *Store) echoes(ctx context.Context, tx *sql.Tx, items []item, cur map[string]*version) error {
	var keys [][]any
	for _, it := range items {
		if it.cust != nil && it.at != 0 {
			keys = append(keys, []any{it.ev.System, it.ev.SourceEntity, it.ev.SourceID, it.at})
		}
	}
	if len(keys) == 0 {
		return nil
	}
	type key struct {
		sys, ent, id string
		at           int64
	}
	business := map[key]int64{}
	golden := map[key]string{}
	if err := s.queryRows(ctx, tx, `SELECT l.system, l.entity, l.record_id, l.written_at, l.business_at, l.echo_data FROM (`, "text,text,text,bigint",
		`) AS v JOIN writeback_ledger l ON l.system = v.column1 AND l.entity = v.column2 AND l.record_id = v.column3 AND l.written_at = v.column4`,
		keys, func(rows *sql.Rows) error {
			var k key
			var b int64
			var g string
			if err := rows.Scan(&k.sys, &k.ent, &k.id, &k.at, &b, &g); err != nil {
				return err
			}
			business[k] = b
			if g != "" {
				golden[k] = g
			}
			return nil
		}); err != nil {
		return fmt.Errorf("read write-back echoes: %w", err)
	}
	if len(business) == 0 {
		return nil
	}
	// The previous versions of the echoed records, to tell an echo from
	// a person's edit at the same version.
	var rkeys []string
	for _, it := range items {
		if _, ok := golden[key{it.ev.System, it.ev.SourceEntity, it.ev.SourceID, it.at}]; ok && it.cust != nil {
			rkeys = append(rkeys, it.rkey)
		}
	}
	prev := map[string]string{}
	if len(rkeys) > 0 {
		if err := s.eachChunk(ctx, tx, `SELECT rkey, data FROM records WHERE rkey IN (%s)`, uniq(rkeys), func(rows *sql.Rows) error {
			var rk string
			var d sql.NullString
			if err := rows.Scan(&rk, &d); err != nil {
				return err
			}
			prev[rk] = d.String
			return nil
		}); err != nil {
			return fmt.Errorf("read echoed records: %w", err)
		}
	}
	for i := range items {
		it := &items[i]
		k := key{it.ev.System, it.ev.SourceEntity, it.ev.SourceID, it.at}
		b, ok := business[k]
		if !ok || it.cust == nil {
			continue
		}
		if g, ok := golden[k]; ok && !echoHolds(it.ev.Data, prev[it.rkey], g) {
			continue
		}
		it.echo = true
		at := b
		if v := cur[it.rkey]; v != nil && v.at >= at {
			at = v.at + 1
		}
		if at >= it.at {
			continue
		}
		it.at = at
		// The record's own updated_at field, if the mapping sets one from
		// the row, is the same write's clock: it moves back with it.
		if u := it.cust.UpdatedAt; u != nil && u.UnixNano() > at {
			t := time.Unix(0, at).UTC()
			c := *it.cust
			c.UpdatedAt = &t
			data, err := json.Marshal(&c)
			if err != nil {
				return fmt.Errorf("write-back echo %s: %w", it.rkey, err)
			}
			ev := *it.ev
			ev.Data = data
			it.ev, it.cust = &ev, &c
		}
	}
	return nil
}

// AddTotals adds each count to target's total of that name (table
// writeback_totals), in one transaction; names in sorted order, so two
// instances adding at once lock rows in the same order.
func (l *Ledger) AddTotals(ctx context.Context, target string, add map[string]int64) error {
	names := make([]string, 0, len(add))
	for n, v := range add {
		if v != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	err := l.s.inTx(ctx, func(tx *sql.Tx) error {
		for _, n := range names {
			if _, err := tx.ExecContext(ctx, l.s.q(`INSERT INTO writeback_totals (target, name, n) VALUES (?, ?, ?)
  ON CONFLICT (target, name) DO UPDATE SET n = writeback_totals.n + excluded.n`), target, n, add[n]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write-back totals %s: add: %w", target, err)
	}
	return nil
}

// Totals returns every target's write-back totals: target -> name -> n.
func (l *Ledger) Totals(ctx context.Context) (map[string]map[string]int64, error) {
	rows, err := l.s.rdb.QueryContext(ctx, `SELECT target, name, n FROM writeback_totals`)
	if err != nil {
		return nil, fmt.Errorf("write-back totals: read: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]int64{}
	for rows.Next() {
		var target, name string
		var n int64
		if err := rows.Scan(&target, &name, &n); err != nil {
			return nil, fmt.Errorf("write-back totals: read: %w", err)
		}
		if out[target] == nil {
			out[target] = map[string]int64{}
		}
		out[target][name] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("write-back totals: read: %w", err)
	}
	return out, nil
}

// WrittenAt returns, for the ids of target crmhub wrote, the time of the
// last write: the target's clock when the write set a version (an echo),
// else the hub's. Ids whose ledger values were only found are absent.
func (l *Ledger) WrittenAt(ctx context.Context, target string, ids []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(ids))
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	for i := 0; i < len(ids); i += ledgerReadChunk {
		part := ids[i:min(i+ledgerReadChunk, len(ids))]
		args := make([]any, 0, len(part)+1)
		args = append(args, target)
		for _, id := range part {
			args = append(args, id)
		}
		rows, err := l.s.rdb.QueryContext(ctx, l.s.q(`SELECT record_id, CASE WHEN written_at <> 0 THEN written_at ELSE wrote END FROM writeback_ledger
WHERE target = ? AND (written_at <> 0 OR wrote <> 0) AND record_id IN (`+ledgerParams(len(part))+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("write-back ledger %s: read write times: %w", target, err)
		}
		for rows.Next() {
			var id string
			var at int64
			if err := rows.Scan(&id, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("write-back ledger %s: read write times: %w", target, err)
			}
			out[id] = time.Unix(0, at).UTC()
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("write-back ledger %s: read write times: %w", target, err)
		}
	}
	return out, nil
}

// echoData is what writeback_ledger.echo_data keeps of a write: the golden
// customer written from and the fields the write set.
func echoData(e hub.WriteEcho) string {
	if len(e.Golden) == 0 {
		return ""
	}
	b, _ := json.Marshal(struct {
		Golden json.RawMessage `json:"golden"`
		Fields []string        `json:"fields,omitempty"`
	}{e.Golden, e.Fields})
	return string(b)
}

// echoHolds says whether a record read back at the version crmhub wrote
// holds only what was there before or what crmhub wrote (the golden
// customer it wrote from): every field equal to its previous value or to
// the golden one, every list item in one of the two. A field that holds
// neither was changed by somebody else within the same version.
func echoHolds(data []byte, prevData, echo string) bool {
	var cur, prev, gold map[string]any
	var ed struct {
		Golden json.RawMessage `json:"golden"`
		Fields []string        `json:"fields"`
	}
	if json.Unmarshal([]byte(echo), &ed) != nil || len(ed.Golden) == 0 {
		// Ledgers written before: echo_data was the golden customer.
		ed.Golden, ed.Fields = json.RawMessage(echo), nil
	}
	if json.Unmarshal(data, &cur) != nil || json.Unmarshal(ed.Golden, &gold) != nil {
		return true // nothing to compare with: keep the version's verdict
	}
	if prevData != "" {
		_ = json.Unmarshal([]byte(prevData), &prev)
	}
	written := map[string]bool{}
	for _, f := range ed.Fields {
		written[f] = true
	}
	for f, v := range cur {
		switch f {
		case "updated_at", "created_at", "external_ids", "custom":
			continue // set by the mapping from the row or the write itself
		}
		if sameJSON(v, gold[f]) {
			continue
		}
		// A field the write set holds the written value in an echo; the
		// record's old value there means a person typed it back within
		// the same version.
		if !written[f] && sameJSON(v, prev[f]) {
			continue
		}
		list, ok := v.([]any)
		if !ok {
			return false
		}
		for _, e := range list {
			if !inList(e, gold[f]) && (written[f] || !inList(e, prev[f])) {
				return false
			}
		}
	}
	return true
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func inList(e, list any) bool {
	l, _ := list.([]any)
	for _, x := range l {
		if sameJSON(e, x) {
			return true
		}
	}
	return false
}
