package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

const chunk = 400 // IN-list size, well below SQLite's and PostgreSQL's parameter limits

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// eachChunk runs query (with one "(%s)" IN-list) over keys in chunks and
// calls scan for every row.
func (s *Store) eachChunk(ctx context.Context, tx *sql.Tx, query string, keys []string, scan func(*sql.Rows) error) error {
	for i := 0; i < len(keys); i += chunk {
		part := keys[i:min(i+chunk, len(keys))]
		rows, err := tx.QueryContext(ctx, s.q(fmt.Sprintf(query, placeholders(len(part)))), anys(part)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// component finds every customer record connected to the seeds through
// shared match keys or a shared current golden customer, and the golden
// ids seen on the way.
func (s *Store) component(ctx context.Context, tx *sql.Tx, seedR, seedG map[string]bool) (recs, goldens map[string]bool, err error) {
	recs, goldens = map[string]bool{}, map[string]bool{}
	keys := map[string]bool{}
	frontR := map[string]bool{}
	for r := range seedR {
		recs[r], frontR[r] = true, true
	}
	frontG := map[string]bool{}
	for g := range seedG {
		goldens[g], frontG[g] = true, true
	}
	for len(frontR)+len(frontG) > 0 {
		nextR := map[string]bool{}
		addR := func(r string) {
			if !recs[r] && len(recs) < s.maxCmp {
				recs[r], nextR[r] = true, true
			}
		}
		if err := s.eachChunk(ctx, tx, `SELECT rkey FROM records WHERE golden_id IN (%s)`, sortedKeys(frontG), func(rows *sql.Rows) error {
			var r string
			if err := rows.Scan(&r); err != nil {
				return err
			}
			addR(r)
			return nil
		}); err != nil {
			return nil, nil, fmt.Errorf("golden members: %w", err)
		}
		frontG = map[string]bool{}
		fr := sortedKeys(frontR)
		if err := s.eachChunk(ctx, tx, `SELECT golden_id FROM records WHERE rkey IN (%s) AND golden_id IS NOT NULL`, fr, func(rows *sql.Rows) error {
			var g string
			if err := rows.Scan(&g); err != nil {
				return err
			}
			if !goldens[g] {
				goldens[g], frontG[g] = true, true
			}
			return nil
		}); err != nil {
			return nil, nil, fmt.Errorf("record goldens: %w", err)
		}
		newK := map[string]bool{}
		if err := s.eachChunk(ctx, tx, `SELECT mkey FROM match_keys WHERE rkey IN (%s)`, fr, func(rows *sql.Rows) error {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			if !keys[k] {
				keys[k], newK[k] = true, true
			}
			return nil
		}); err != nil {
			return nil, nil, fmt.Errorf("record keys: %w", err)
		}
		if err := s.eachChunk(ctx, tx, `SELECT rkey FROM match_keys WHERE mkey IN (%s)`, sortedKeys(newK), func(rows *sql.Rows) error {
			var r string
			if err := rows.Scan(&r); err != nil {
				return err
			}
			addR(r)
			return nil
		}); err != nil {
			return nil, nil, fmt.Errorf("key records: %w", err)
		}
		if len(recs) >= s.maxCmp {
			s.log.WarnContext(ctx, "identity component reached its cap; some shared keys were not followed", "cap", s.maxCmp)
		}
		frontR = nextR
	}
	return recs, goldens, nil
}

type loaded struct {
	rec  identity.Record
	prev string // golden id before this batch
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// resolve re-clusters everything connected to the batch's customer records
// and rewrites the golden customers that changed.
func (s *Store) resolve(ctx context.Context, b *batch) error {
	if len(b.dirty) == 0 {
		return nil
	}
	tx := b.tx
	recKeys, oldGoldens, err := s.component(ctx, tx, b.dirty, b.seedsG)
	if err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	var live []loaded
	if err := s.eachChunk(ctx, tx, `SELECT rkey, system, source_entity, source_id, updated_at, data, golden_id
FROM records WHERE rkey IN (%s) AND deleted = 0 AND entity = 'customer'`, sortedKeys(recKeys), func(rows *sql.Rows) error {
		var (
			l          loaded
			rkey, data string
			at         int64
			g          sql.NullString
		)
		if err := rows.Scan(&rkey, &l.rec.System, &l.rec.SourceEntity, &l.rec.SourceID, &at, &data, &g); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(data), &l.rec.Customer); err != nil {
			return fmt.Errorf("stored record %s: %w", rkey, err)
		}
		l.rec.UpdatedAt, l.prev = fromNanos(at), g.String
		live = append(live, l)
		return nil
	}); err != nil {
		return fmt.Errorf("resolve: load records: %w", err)
	}

	recs := make([]identity.Record, len(live))
	prev := map[string]string{}
	for i, l := range live {
		recs[i] = l.rec
		prev[l.rec.Key()] = l.prev
	}
	clusters := s.res.Cluster(recs)
	clusterOf := map[string]string{}
	newIDs := map[string]bool{}
	for _, c := range clusters {
		newIDs[c.ID] = true
		for _, r := range c.Records {
			clusterOf[r.Key()] = c.ID
		}
		if err := s.writeGolden(ctx, b, c, prev); err != nil {
			return fmt.Errorf("resolve: golden %s: %w", c.ID, err)
		}
	}

	// Golden ids that no cluster carries any more: merged into the cluster
	// that holds their smallest former member, or retired if none is left.
	former := map[string]string{} // old golden -> smallest former live member
	for _, l := range live {
		k := l.rec.Key()
		if f, ok := former[l.prev]; l.prev != "" && (!ok || k < f) {
			former[l.prev] = k
		}
	}
	now := time.Now().UnixNano()
	for _, g := range sortedKeys(oldGoldens) {
		if newIDs[g] {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM golden_attrs WHERE golden_id = ?`), g); err != nil {
			return fmt.Errorf("resolve: clear attrs of %s: %w", g, err)
		}
		if f, ok := former[g]; ok {
			surv := clusterOf[f]
			res, err := tx.ExecContext(ctx, s.q(`UPDATE goldens SET status = 'merged', merged_into = ? WHERE id = ? AND status = 'active'`), surv, g)
			if err != nil {
				return fmt.Errorf("resolve: merge %s: %w", g, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				b.stats.GoldenMerged++
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO merges (loser, survivor, at) VALUES (?, ?, ?)`), g, surv, now); err != nil {
					return fmt.Errorf("resolve: record merge: %w", err)
				}
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE goldens SET status = 'retired', merged_into = NULL WHERE id = ? AND status = 'active'`), g); err != nil {
			return fmt.Errorf("resolve: retire %s: %w", g, err)
		}
	}
	// Deleted records belong to no golden customer.
	if err := s.execChunk(ctx, tx, `UPDATE records SET golden_id = NULL WHERE deleted = 1 AND rkey IN (%s)`, nil, sortedKeys(b.dirty)); err != nil {
		return fmt.Errorf("resolve: detach deleted: %w", err)
	}
	return nil
}

func (s *Store) execChunk(ctx context.Context, tx *sql.Tx, query string, lead []any, keys []string) error {
	for i := 0; i < len(keys); i += chunk {
		part := keys[i:min(i+chunk, len(keys))]
		if _, err := tx.ExecContext(ctx, s.q(fmt.Sprintf(query, placeholders(len(part)))), append(append([]any(nil), lead...), anys(part)...)...); err != nil {
			return err
		}
	}
	return nil
}

// writeGolden stores one cluster's golden customer if it changed, and
// points its records at it.
func (s *Store) writeGolden(ctx context.Context, b *batch, c identity.Cluster, prev map[string]string) error {
	tx := b.tx
	cust, lin := s.res.Survive(c.Records)
	data, err := json.Marshal(cust)
	if err != nil {
		return err
	}
	linJSON, err := json.Marshal(lin)
	if err != nil {
		return err
	}
	var created, updated int64
	for i, r := range c.Records {
		at := nanos(r.UpdatedAt)
		if i == 0 || at < created {
			created = at
		}
		if at > updated {
			updated = at
		}
	}
	var (
		status         string
		oldData, oldLn sql.NullString
	)
	err = tx.QueryRowContext(ctx, s.q(`SELECT status, data, lineage FROM goldens WHERE id = ?`), c.ID).Scan(&status, &oldData, &oldLn)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	if status != "active" {
		b.stats.GoldenCreated++
	}
	if status != "active" || oldData.String != string(data) || oldLn.String != string(linJSON) {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO goldens (id, status, merged_into, kind, data, lineage, created_at, updated_at)
VALUES (?, 'active', NULL, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET status = 'active', merged_into = NULL, kind = excluded.kind, data = excluded.data,
  lineage = excluded.lineage, created_at = excluded.created_at, updated_at = excluded.updated_at`),
			c.ID, cust.Kind, string(data), string(linJSON), created, updated); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM golden_attrs WHERE golden_id = ?`), c.ID); err != nil {
			return err
		}
		for _, a := range searchAttrs(cust, s.res.Config().DefaultRegion) {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO golden_attrs (attr, value, golden_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`), a[0], a[1], c.ID); err != nil {
				return err
			}
		}
	}
	var move []string
	for _, r := range c.Records {
		if prev[r.Key()] != c.ID {
			move = append(move, r.Key())
		}
	}
	return s.execChunk(ctx, tx, `UPDATE records SET golden_id = ? WHERE rkey IN (%s)`, []any{c.ID}, move)
}

// searchAttrs lists the (attr, value) pairs a golden customer is found by.
func searchAttrs(c hub.Customer, region string) [][2]string {
	var out [][2]string
	for _, e := range c.Emails {
		out = append(out, [2]string{"email", identity.NormalizeEmail(e)})
	}
	for _, p := range c.Phones {
		if n, err := identity.NormalizePhone(p, region); err == nil && n != "" {
			out = append(out, [2]string{"phone", n})
		}
	}
	if t := identity.NormalizeTaxID(c.TaxID); t != "" {
		out = append(out, [2]string{"tax", t})
	}
	for _, n := range []string{c.FullName, c.GivenName + " " + c.FamilyName, c.FamilyName, c.GivenName, c.OrganizationName} {
		if n := identity.NormalizeName(n); n != "" {
			out = append(out, [2]string{"name", n})
		}
	}
	return out
}
