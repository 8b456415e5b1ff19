package deadletters

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/store/sqldb"
)

// Store keeps dead letters. An entry is changed only while it is open, so
// two stewards (or two hubs) acting on the same entry cannot both close it.
type Store struct{ db sqldb.DB }

// New returns the dead letters of the store whose pools db holds (its
// migrations applied: hub/store.Open). It is valid while that store is open.
func New(db sqldb.DB) *Store { return &Store{db: db} }

const deadLetterCols = `seq, id, connector, system, source_entity, source_id, mapping, version, field, reason_class, reason,
  meta, payload, raw, source_updated_at, at, status, attempts, replayed_at, closed_at, actor, note`

// IndexDeadLetters stores entries that are not stored yet (by id) and
// returns how many were new. It is idempotent: the indexer may deliver a
// message again after a crash before its offset commit.
func (s *Store) IndexDeadLetters(ctx context.Context, entries []hub.DeadLetterEntry) (int, error) {
	n := 0
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		// Any unique key: the offset id (the same message indexed
		// again) or dkey (the same dead letter published again).
		stmt, err := tx.PrepareContext(ctx, s.db.Q(`INSERT INTO dead_letters
  (id, connector, system, source_entity, source_id, mapping, version, field, reason_class, reason,
   meta, payload, raw, source_updated_at, at, status, dkey)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range entries {
			e := &entries[i]
			if e.ID == "" {
				return fmt.Errorf("dead letter %d of %d: %w: empty id", i, len(entries), hub.ErrInvalid)
			}
			var meta any
			if len(e.Meta) > 0 {
				b, err := json.Marshal(e.Meta)
				if err != nil {
					return fmt.Errorf("dead letter %s: meta: %w", e.ID, err)
				}
				meta = string(b)
			}
			status := e.Status
			if status == "" {
				status = hub.DeadLetterOpen
			}
			res, err := stmt.ExecContext(ctx, e.ID, e.Connector, e.System, e.SourceEntity, e.SourceID, e.Mapping,
				e.MappingVersion, e.Field, e.ReasonClass, e.Reason, meta, nullBytes(e.Payload), nullBytes(e.Raw),
				sqldb.Nanos(e.SourceUpdatedAt), sqldb.Nanos(e.At), status, deadLetterKey(&e.DeadLetter))
			if err != nil {
				return fmt.Errorf("dead letter %s: %w", e.ID, err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("dead letter %s: %w", e.ID, err)
			}
			n += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("index %d dead letters: %w", len(entries), err)
	}
	return n, nil
}

// deadLetterKey identifies a dead letter by what it is: the record (or,
// for a line a connector could not read, its file and line), its version,
// the mapping, the reason class and the content; not the time it was
// written nor its place on the topic.
func deadLetterKey(d *hub.DeadLetter) string {
	h := sha256.New()
	for _, part := range []string{d.Connector, d.System, d.SourceEntity, d.SourceID, d.Mapping, strconv.Itoa(d.MappingVersion),
		d.ReasonClass, strconv.FormatInt(sqldb.Nanos(d.SourceUpdatedAt), 10), d.Meta["file"], d.Meta["line"]} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(d.Payload)
	h.Write([]byte{0})
	h.Write(d.Raw)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// ListDeadLetters lists entries in arrival order after f.After.
func (s *Store) ListDeadLetters(ctx context.Context, f hub.DeadLetterFilter) ([]hub.DeadLetterEntry, error) {
	where := []string{"seq > ?"}
	args := []any{f.After}
	for _, c := range []struct{ col, v string }{
		{"reason_class", f.ReasonClass}, {"connector", f.Connector}, {"status", f.Status},
		{"mapping", f.Mapping}, {"source_entity", f.SourceEntity},
	} {
		if c.v != "" {
			where = append(where, c.col+" = ?") // column names are the constants above
			args = append(args, c.v)
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	rows, err := s.db.Read.QueryContext(ctx, s.db.Q(`SELECT `+deadLetterCols+` FROM dead_letters WHERE `+
		strings.Join(where, " AND ")+` ORDER BY seq LIMIT ?`), args...)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	defer rows.Close()
	var out []hub.DeadLetterEntry
	for rows.Next() {
		e, err := scanDeadLetter(rows)
		if err != nil {
			return nil, fmt.Errorf("list dead letters: %w", err)
		}
		out = append(out, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return out, nil
}

// FindDeadLetter returns one entry; hub.ErrNotFound if none.
func (s *Store) FindDeadLetter(ctx context.Context, id string) (*hub.DeadLetterEntry, error) {
	e, err := scanDeadLetter(s.db.Read.QueryRowContext(ctx, s.db.Q(`SELECT `+deadLetterCols+` FROM dead_letters WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("dead letter %s: %w", id, hub.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("dead letter %s: %w", id, err)
	}
	return e, nil
}

// UpdateDeadLetter writes the outcome of a replay or resolve: status,
// reason, field, mapping version, attempts, times, actor and note. Only an
// open entry changes; hub.ErrConflict if it is no longer open.
func (s *Store) UpdateDeadLetter(ctx context.Context, e *hub.DeadLetterEntry) error {
	res, err := s.db.Write.ExecContext(ctx, s.db.Q(`UPDATE dead_letters SET status = ?, reason_class = ?, reason = ?, field = ?,
  mapping = ?, version = ?, attempts = ?, replayed_at = ?, closed_at = ?, actor = ?, note = ?
  WHERE id = ? AND status = ?`),
		e.Status, e.ReasonClass, e.Reason, e.Field, e.Mapping, e.MappingVersion, e.Attempts,
		sqldb.Nanos(e.ReplayedAt), sqldb.Nanos(e.ClosedAt), e.Actor, e.Note, e.ID, hub.DeadLetterOpen)
	if err != nil {
		return fmt.Errorf("update dead letter %s: %w", e.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update dead letter %s: %w", e.ID, err)
	}
	if n == 0 {
		cur, err := s.FindDeadLetter(ctx, e.ID)
		if err != nil {
			return err
		}
		return fmt.Errorf("dead letter %s is %s, not open: %w", e.ID, cur.Status, hub.ErrConflict)
	}
	return nil
}

// OpenDeadLetters counts open entries per reason class.
func (s *Store) OpenDeadLetters(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.Read.QueryContext(ctx, s.db.Q(`SELECT reason_class, COUNT(*) FROM dead_letters WHERE status = ? GROUP BY reason_class`), hub.DeadLetterOpen)
	if err != nil {
		return nil, fmt.Errorf("count open dead letters: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var c string
		var n int64
		if err := rows.Scan(&c, &n); err != nil {
			return nil, fmt.Errorf("count open dead letters: %w", err)
		}
		out[c] = n
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanDeadLetter(r scanner) (*hub.DeadLetterEntry, error) {
	var (
		e                                   hub.DeadLetterEntry
		meta                                sql.NullString
		payload, raw                        []byte
		updatedAt, at, replayedAt, closedAt int64
	)
	if err := r.Scan(&e.Seq, &e.ID, &e.Connector, &e.System, &e.SourceEntity, &e.SourceID, &e.Mapping, &e.MappingVersion,
		&e.Field, &e.ReasonClass, &e.Reason, &meta, &payload, &raw, &updatedAt, &at, &e.Status, &e.Attempts,
		&replayedAt, &closedAt, &e.Actor, &e.Note); err != nil {
		return nil, err
	}
	if meta.Valid && meta.String != "" {
		if err := json.Unmarshal([]byte(meta.String), &e.Meta); err != nil {
			return nil, fmt.Errorf("dead letter %s: meta: %w", e.ID, err)
		}
	}
	if len(payload) > 0 {
		e.Payload = payload
	}
	if len(raw) > 0 {
		e.Raw = raw
	}
	e.SourceUpdatedAt, e.At = sqldb.FromNanos(updatedAt), sqldb.FromNanos(at)
	e.ReplayedAt, e.ClosedAt = sqldb.FromNanos(replayedAt), sqldb.FromNanos(closedAt)
	return &e, nil
}

// OpenDeadLettersOf counts the open dead letters of a connector instance's
// source entity: records the source has and the hub could not take, part
// of the explanation of a drift.
func (s *Store) OpenDeadLettersOf(ctx context.Context, connector, sourceEntity string) (int64, error) {
	var n int64
	err := s.db.Read.QueryRowContext(ctx, s.db.Q(`SELECT COUNT(DISTINCT source_id) FROM dead_letters WHERE connector = ? AND source_entity = ? AND status = ?`),
		connector, sourceEntity, hub.DeadLetterOpen).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("open dead letters %s/%s: %w", connector, sourceEntity, err)
	}
	return n, nil
}
