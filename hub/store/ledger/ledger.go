package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/store/sqldb"
)

// Store is write-back's record of what it wrote, per target record, in the
// store's own database (table writeback_ledger): every hub instance on one
// PostgreSQL reads what the others wrote, so none writes a value back
// because it did not know another instance had written it. It satisfies
// writeback.Ledger, ConflictLog, TotalsLog and EchoLedger.
type Store struct{ db sqldb.DB }

// New returns the write-back ledger of the store whose pools db holds (its
// migrations applied: hub/store.Open). It is valid while that store is open.
func New(db sqldb.DB) *Store { return &Store{db: db} }

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
func (l *Store) Written(ctx context.Context, target string, ids []string) (hashes, touches map[string]string, err error) {
	hashes, touches = make(map[string]string, len(ids)), make(map[string]string, len(ids))
	err = l.eachOf(ctx, target, ids, `SELECT record_id, hash, touch FROM writeback_ledger WHERE target = ? AND record_id IN (%s)`,
		func(rows *sql.Rows) error {
			var id, h, t string
			if err := rows.Scan(&id, &h, &t); err != nil {
				return err
			}
			hashes[id] = h
			if t != "" {
				touches[id] = t
			}
			return nil
		})
	if err != nil {
		return nil, nil, fmt.Errorf("write-back ledger %s: read: %w", target, err)
	}
	return hashes, touches, nil
}

// eachOf runs query, whose "%s" is an IN list of record ids, for target
// over ids (sorted, each once), ledgerReadChunk ids a statement, and calls
// scan on each row.
func (l *Store) eachOf(ctx context.Context, target string, ids []string, query string, scan func(*sql.Rows) error) error {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	for i := 0; i < len(ids); i += ledgerReadChunk {
		part := ids[i:min(i+ledgerReadChunk, len(ids))]
		args := make([]any, 0, len(part)+1)
		args = append(args, target)
		for _, id := range part {
			args = append(args, id)
		}
		if err := l.each(ctx, fmt.Sprintf(query, sqldb.Params(len(part))), args, scan); err != nil {
			return err
		}
	}
	return nil
}

// each runs one query on the read pool and calls scan on each row.
func (l *Store) each(ctx context.Context, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := l.db.Read.QueryContext(ctx, l.db.Q(query), args...)
	if err != nil {
		return err
	}
	return sqldb.Each(rows, scan)
}

// Record stores the hash of each id in hashes, with its touch fields from
// touches ("" for an id that has none) and the echo of a write from echoes
// (an id without one keeps none), in one transaction of multi-row upserts.
// Rows go in id order, so two instances recording overlapping batches at
// once lock them in the same order and do not deadlock.
func (l *Store) Record(ctx context.Context, target string, hashes, touches map[string]string, echoes map[string]hub.WriteEcho) error {
	if len(hashes) == 0 {
		return nil
	}
	ids := make([]string, 0, len(hashes))
	for id := range hashes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	now := time.Now().UnixNano()
	err := l.db.InTx(ctx, func(tx *sql.Tx) error {
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
				args = append(args, target, id, hashes[id], touches[id], now, e.System, e.Entity, sqldb.Nanos(e.WrittenAt), sqldb.Nanos(e.BusinessAt), EchoData(e), w)
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
			if _, err := tx.ExecContext(ctx, l.db.Q(q.String()), args...); err != nil {
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

// Conflicts returns target's conflicted write-backs (every target's when
// target is ""), in target and golden id order.
func (l *Store) Conflicts(ctx context.Context, target string) ([]hub.WritebackConflict, error) {
	q := `SELECT target, golden_id, at, seen, tries, steward, detail FROM writeback_conflicts`
	var args []any
	if target != "" {
		q += ` WHERE target = ?`
		args = append(args, target)
	}
	var out []hub.WritebackConflict
	err := l.each(ctx, q+` ORDER BY target, golden_id`, args, func(rows *sql.Rows) error {
		var c hub.WritebackConflict
		var at, seen int64
		var steward int
		if err := rows.Scan(&c.Target, &c.GoldenID, &at, &seen, &c.Tries, &steward, &c.Detail); err != nil {
			return err
		}
		c.At, c.Steward = time.Unix(0, at).UTC(), steward != 0
		if seen != 0 {
			c.Seen = time.Unix(0, seen).UTC()
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("write-back conflicts %s: read: %w", target, err)
	}
	return out, nil
}

// SetConflicts stores the conflicts in set (by golden id, replacing what was
// there) and removes the golden ids in clear, in one transaction; an id in
// both is set.
func (l *Store) SetConflicts(ctx context.Context, target string, set []hub.WritebackConflict, clear []string) error {
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
	err := l.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, id := range slices.Compact(slices.Sorted(slices.Values(clear))) {
			if keep[id] {
				continue
			}
			if _, err := tx.ExecContext(ctx, l.db.Q(`DELETE FROM writeback_conflicts WHERE target = ? AND golden_id = ?`), target, id); err != nil {
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
			if _, err := tx.ExecContext(ctx, l.db.Q(`INSERT INTO writeback_conflicts (target, golden_id, at, seen, tries, steward, detail) VALUES (?, ?, ?, ?, ?, ?, ?)
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

// AddTotals adds each count to target's total of that name (table
// writeback_totals), in one transaction; names in sorted order, so two
// instances adding at once lock rows in the same order.
func (l *Store) AddTotals(ctx context.Context, target string, add map[string]int64) error {
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
	err := l.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, n := range names {
			if _, err := tx.ExecContext(ctx, l.db.Q(`INSERT INTO writeback_totals (target, name, n) VALUES (?, ?, ?)
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
func (l *Store) Totals(ctx context.Context) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	err := l.each(ctx, `SELECT target, name, n FROM writeback_totals`, nil, func(rows *sql.Rows) error {
		var target, name string
		var n int64
		if err := rows.Scan(&target, &name, &n); err != nil {
			return err
		}
		if out[target] == nil {
			out[target] = map[string]int64{}
		}
		out[target][name] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("write-back totals: read: %w", err)
	}
	return out, nil
}

// WrittenAt returns, for the ids of target crmhub wrote, the time of the
// last write: the target's clock when the write set a version (an echo),
// else the hub's. Ids whose ledger values were only found are absent.
func (l *Store) WrittenAt(ctx context.Context, target string, ids []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(ids))
	err := l.eachOf(ctx, target, ids, `SELECT record_id, CASE WHEN written_at <> 0 THEN written_at ELSE wrote END FROM writeback_ledger
WHERE target = ? AND (written_at <> 0 OR wrote <> 0) AND record_id IN (%s)`, func(rows *sql.Rows) error {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return err
		}
		out[id] = time.Unix(0, at).UTC()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("write-back ledger %s: read write times: %w", target, err)
	}
	return out, nil
}

// EchoData is what writeback_ledger.echo_data keeps of a write: the golden
// customer written from and the fields the write set. hub/store reads it
// inside Apply (echoHolds, hub/store/echoes.go) to tell crmhub's own write
// read back from a person's edit; its tests build their input with this
// function, so a change of the format shows there.
func EchoData(e hub.WriteEcho) string {
	if len(e.Golden) == 0 {
		return ""
	}
	b, _ := json.Marshal(struct {
		Golden json.RawMessage `json:"golden"`
		Fields []string        `json:"fields,omitempty"`
	}{e.Golden, e.Fields})
	return string(b)
}
