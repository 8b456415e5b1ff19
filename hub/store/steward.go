package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

// Steward actions: a data steward corrects identity resolution. Each action
// is stored as a rule on source records (so it survives re-processing and
// replays), re-resolves the records concerned at once, and is audited.

// Audit actions.
const (
	ActionForceMerge   = "force_merge"
	ActionUnmerge      = "unmerge"
	ActionReviewAccept = "review_accept"
	ActionReviewReject = "review_reject"
	// ActionReviewDefer: a steward was not sure and left a note; the
	// pair stays in the queue.
	ActionReviewDefer = "review_defer"
)

var (
	_ hub.Steward    = (*Store)(nil)
	_ hub.ChangeFeed = (*Store)(nil)
)

func checkActor(actor, reason string) error {
	if actor == "" {
		return fmt.Errorf("actor is required: %w", hub.ErrInvalid)
	}
	if reason == "" {
		return fmt.Errorf("reason is required: %w", hub.ErrInvalid)
	}
	return nil
}

// steward runs fn in a write transaction holding the same lock as Apply.
func (s *Store) steward(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if s.pg {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7347002)`); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		return fn(tx)
	})
}

// activeID follows merges to the active golden id.
func (s *Store) activeID(ctx context.Context, tx *sql.Tx, id string) (string, error) {
	cur := id
	for range 64 {
		var (
			status string
			into   sql.NullString
		)
		err := tx.QueryRowContext(ctx, s.q(`SELECT status, merged_into FROM goldens WHERE id = ?`), cur).Scan(&status, &into)
		if errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("customer %s: %w", id, hub.ErrNotFound)
		}
		if err != nil {
			return "", fmt.Errorf("customer %s: %w", id, err)
		}
		switch status {
		case "active":
			return cur, nil
		case "merged":
			cur = into.String
		default:
			return "", fmt.Errorf("customer %s (retired): %w", id, hub.ErrNotFound)
		}
	}
	return "", fmt.Errorf("customer %s: merge chain too long", id)
}

func (s *Store) membersTx(ctx context.Context, tx *sql.Tx, golden string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT rkey FROM records WHERE golden_id = ? AND deleted = 0 ORDER BY rkey`), golden)
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", golden, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Store) goldenOf(ctx context.Context, tx *sql.Tx, rkey string) (string, error) {
	var g sql.NullString
	err := tx.QueryRowContext(ctx, s.q(`SELECT golden_id FROM records WHERE rkey = ? AND deleted = 0 AND entity = 'customer'`), rkey).Scan(&g)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !g.Valid {
		return "", fmt.Errorf("customer record %s: %w", rkey, hub.ErrNotFound)
	}
	return g.String, err
}

func (s *Store) putRule(ctx context.Context, tx *sql.Tx, kind, a, b, actor, reason string, at int64) error {
	if b < a {
		a, b = b, a
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO identity_rules (a, b, kind, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (a, b) DO UPDATE SET kind = excluded.kind, actor = excluded.actor, reason = excluded.reason, at = excluded.at`),
		a, b, kind, actor, reason, at)
	if err != nil {
		return fmt.Errorf("store rule: %w", err)
	}
	return nil
}

func (s *Store) audit(ctx context.Context, tx *sql.Tx, subjects []string, actor, action, reason string, detail any, at int64) error {
	d, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	buf := make([]byte, 8)
	_, _ = rand.Read(buf)
	id := hex.EncodeToString(buf)
	seen := map[string]bool{}
	for _, sub := range subjects {
		if sub == "" || seen[sub] {
			continue
		}
		seen[sub] = true
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit_log (id, subject, at, actor, action, reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			id, sub, at, actor, action, reason, string(d)); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	return nil
}

// stewardBatch is a batch for work on records already stored (no events
// of its own).
func stewardBatch(tx *sql.Tx) *batch {
	return &batch{tx: tx, dirty: map[string]bool{}, seedsG: map[string]bool{}, applied: map[string]int{}, skipped: map[string]int{}}
}

// reresolve re-clusters the records and golden customers after a rule change.
func (s *Store) reresolve(ctx context.Context, tx *sql.Tx, rkeys []string, goldens ...string) (hub.ApplyStats, error) {
	b := stewardBatch(tx)
	for _, r := range rkeys {
		b.dirty[r] = true
	}
	for _, g := range goldens {
		b.seedsG[g] = true
	}
	if err := s.resolve(ctx, b); err != nil {
		return b.stats, err
	}
	return b.stats, s.valueAfter(ctx, b, nil)
}

// ForceMerge makes two golden customers one, whatever matching says
// (except that a person never merges into an organization). It returns the
// surviving id.
func (s *Store) ForceMerge(ctx context.Context, a, b, actor, reason string) (string, error) {
	if err := checkActor(actor, reason); err != nil {
		return "", err
	}
	var survivor string
	err := s.steward(ctx, func(tx *sql.Tx) error {
		ga, err := s.activeID(ctx, tx, a)
		if err != nil {
			return err
		}
		gb, err := s.activeID(ctx, tx, b)
		if err != nil {
			return err
		}
		if ga == gb {
			return fmt.Errorf("customers %s and %s are already one (%s): %w", a, b, ga, hub.ErrConflict)
		}
		var ka, kb string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT kind FROM goldens WHERE id = ?`), ga).Scan(&ka); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, s.q(`SELECT kind FROM goldens WHERE id = ?`), gb).Scan(&kb); err != nil {
			return err
		}
		if ka != kb {
			return fmt.Errorf("merge %s (%s) with %s (%s): a person never merges into an organization: %w", ga, ka, gb, kb, hub.ErrConflict)
		}
		ma, err := s.membersTx(ctx, tx, ga)
		if err != nil {
			return err
		}
		mb, err := s.membersTx(ctx, tx, gb)
		if err != nil {
			return err
		}
		if len(ma) == 0 || len(mb) == 0 {
			return fmt.Errorf("merge %s with %s: no source records: %w", ga, gb, hub.ErrConflict)
		}
		all := append(append([]string(nil), ma...), mb...)
		// Earlier never-merge decisions between the two give way to this one.
		if err := s.dropRulesBetween(ctx, tx, identity.RuleNeverMerge, "", all); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		if err := s.putRule(ctx, tx, identity.RuleForceMerge, ma[0], mb[0], actor, reason, now); err != nil {
			return err
		}
		if _, err := s.reresolve(ctx, tx, all, ga, gb); err != nil {
			return err
		}
		if survivor, err = s.goldenOf(ctx, tx, ma[0]); err != nil {
			return err
		}
		return s.audit(ctx, tx, []string{ga, gb, survivor}, actor, ActionForceMerge, reason,
			map[string]any{"customers": []string{ga, gb}, "survivor": survivor, "rule": []string{ma[0], mb[0]}}, now)
	})
	if err != nil {
		return "", fmt.Errorf("force merge: %w", err)
	}
	return survivor, nil
}

// dropRulesBetween deletes rules of a kind whose both records are in
// rkeys and, if involving is set, one of which is involving.
func (s *Store) dropRulesBetween(ctx context.Context, tx *sql.Tx, kind, involving string, rkeys []string) error {
	in := map[string]bool{}
	for _, r := range rkeys {
		in[r] = true
	}
	rules, err := s.rulesFor(ctx, tx, rkeys)
	if err != nil {
		return err
	}
	for _, r := range rules {
		if r.Kind == kind && in[r.A] && in[r.B] && (involving == "" || r.A == involving || r.B == involving) {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM identity_rules WHERE a = ? AND b = ?`), r.A, r.B); err != nil {
				return fmt.Errorf("drop rule: %w", err)
			}
		}
	}
	return nil
}

// Unmerge splits one source record (system/entity/id record key) out of a
// golden customer: it will not join that customer's other records again
// unless a steward merges them. It returns the record's new golden id.
func (s *Store) Unmerge(ctx context.Context, golden, recordKey, actor, reason string) (string, error) {
	if err := checkActor(actor, reason); err != nil {
		return "", err
	}
	var newID string
	err := s.steward(ctx, func(tx *sql.Tx) error {
		g, err := s.activeID(ctx, tx, golden)
		if err != nil {
			return err
		}
		members, err := s.membersTx(ctx, tx, g)
		if err != nil {
			return err
		}
		var others []string
		found := false
		for _, m := range members {
			if m == recordKey {
				found = true
			} else {
				others = append(others, m)
			}
		}
		if !found {
			return fmt.Errorf("record %s is not a source of customer %s: %w", recordKey, g, hub.ErrInvalid)
		}
		if len(others) == 0 {
			return fmt.Errorf("record %s is the only source of customer %s: %w", recordKey, g, hub.ErrConflict)
		}
		if err := s.dropRulesBetween(ctx, tx, identity.RuleForceMerge, recordKey, members); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		for _, o := range others {
			if err := s.putRule(ctx, tx, identity.RuleNeverMerge, recordKey, o, actor, reason, now); err != nil {
				return err
			}
		}
		if _, err := s.reresolve(ctx, tx, members, g); err != nil {
			return err
		}
		if newID, err = s.goldenOf(ctx, tx, recordKey); err != nil {
			return err
		}
		return s.audit(ctx, tx, []string{g, newID}, actor, ActionUnmerge, reason,
			map[string]any{"customer": g, "record": recordKey, "new_customer": newID}, now)
	})
	if err != nil {
		return "", fmt.Errorf("unmerge: %w", err)
	}
	return newID, nil
}

// Reviews lists candidate matches waiting for a decision, ordered by
// record keys; after is the last review's "a\x00b" cursor ("" first).
func (s *Store) Reviews(ctx context.Context, afterA, afterB string, limit int) ([]hub.Review, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = DefaultLimit
	}
	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT r.a, r.b, r.score, COALESCE(ra.golden_id, ''), COALESCE(rb.golden_id, '')
FROM review_candidates r
LEFT JOIN records ra ON ra.rkey = r.a
LEFT JOIN records rb ON rb.rkey = r.b
WHERE r.a > ? OR (r.a = ? AND r.b > ?)
ORDER BY r.a, r.b LIMIT ?`), afterA, afterA, afterB, limit)
	if err != nil {
		return nil, fmt.Errorf("reviews: %w", err)
	}
	defer rows.Close()
	var out []hub.Review
	for rows.Next() {
		var r hub.Review
		if err := rows.Scan(&r.A, &r.B, &r.Score, &r.GoldenA, &r.GoldenB); err != nil {
			return nil, fmt.Errorf("reviews: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return out, s.withEvidence(ctx, out)
}

// reviewPair is a queued candidate's score and its records' golden
// customers; ErrNotFound when the pair is not queued.
func (s *Store) reviewPair(ctx context.Context, tx *sql.Tx, a, b string) (score float64, ga, gb string, err error) {
	err = tx.QueryRowContext(ctx, s.q(`SELECT score FROM review_candidates WHERE a = ? AND b = ?`), a, b).Scan(&score)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", "", fmt.Errorf("review %s / %s: %w", a, b, hub.ErrNotFound)
	}
	if err != nil {
		return 0, "", "", err
	}
	if ga, err = s.goldenOf(ctx, tx, a); err != nil {
		return 0, "", "", err
	}
	gb, err = s.goldenOf(ctx, tx, b)
	return score, ga, gb, err
}

// DeferReview records a steward's note on a candidate pair without
// deciding it: the pair stays in the queue, the note is in the audit of
// both customers.
func (s *Store) DeferReview(ctx context.Context, a, b, actor, note string) error {
	if err := checkActor(actor, note); err != nil {
		return err
	}
	if b < a {
		a, b = b, a
	}
	err := s.steward(ctx, func(tx *sql.Tx) error {
		score, ga, gb, err := s.reviewPair(ctx, tx, a, b)
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, []string{ga, gb}, actor, ActionReviewDefer, note,
			map[string]any{"records": []string{a, b}, "score": score, "customers": []string{ga, gb}}, time.Now().UnixNano())
	})
	if err != nil {
		return fmt.Errorf("defer review: %w", err)
	}
	return nil
}

// DecideReview accepts (merge) or rejects (never merge) a candidate pair.
func (s *Store) DecideReview(ctx context.Context, a, b string, accept bool, actor, reason string) error {
	if err := checkActor(actor, reason); err != nil {
		return err
	}
	if b < a {
		a, b = b, a
	}
	err := s.steward(ctx, func(tx *sql.Tx) error {
		score, ga, gb, err := s.reviewPair(ctx, tx, a, b)
		if err != nil {
			return err
		}
		kind, action := identity.RuleNeverMerge, ActionReviewReject
		if accept {
			kind, action = identity.RuleForceMerge, ActionReviewAccept
		}
		now := time.Now().UnixNano()
		if err := s.putRule(ctx, tx, kind, a, b, actor, reason, now); err != nil {
			return err
		}
		if _, err := s.reresolve(ctx, tx, []string{a, b}, ga, gb); err != nil {
			return err
		}
		after, err := s.goldenOf(ctx, tx, a)
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, []string{ga, gb, after}, actor, action, reason,
			map[string]any{"records": []string{a, b}, "score": score, "customers": []string{ga, gb}, "result": after}, now)
	})
	if err != nil {
		return fmt.Errorf("decide review: %w", err)
	}
	return nil
}

// Audit lists the steward actions that touched a golden customer, oldest first.
func (s *Store) Audit(ctx context.Context, golden string) ([]hub.AuditEntry, error) {
	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT id, at, actor, action, reason, detail FROM audit_log WHERE subject = ? ORDER BY at, id`), golden)
	if err != nil {
		return nil, fmt.Errorf("audit of %s: %w", golden, err)
	}
	defer rows.Close()
	var out []hub.AuditEntry
	for rows.Next() {
		var (
			e      hub.AuditEntry
			at     int64
			detail string
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Reason, &detail); err != nil {
			return nil, fmt.Errorf("audit of %s: %w", golden, err)
		}
		e.At, e.Detail = fromNanos(at), json.RawMessage(detail)
		out = append(out, e)
	}
	return out, rows.Err()
}
