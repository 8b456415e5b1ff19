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

// queryer is a transaction or a connection pool.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// eachChunk runs query (with one "(%s)" IN-list) over keys in chunks and
// calls scan for every row.
func (s *Store) eachChunk(ctx context.Context, tx queryer, query string, keys []string, scan func(*sql.Rows) error) error {
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
			if isBlockKey(k) {
				return nil // compared through fuzzy_links, never followed
			}
			if !keys[k] {
				keys[k], newK[k] = true, true
			}
			return nil
		}); err != nil {
			return nil, nil, fmt.Errorf("record keys: %w", err)
		}
		for _, q := range []string{
			`SELECT b FROM identity_rules WHERE kind = 'force_merge' AND a IN (%s)`,
			`SELECT a FROM identity_rules WHERE kind = 'force_merge' AND b IN (%s)`,
			`SELECT b FROM fuzzy_links WHERE auto = 1 AND a IN (%s)`,
			`SELECT a FROM fuzzy_links WHERE auto = 1 AND b IN (%s)`,
		} {
			if err := s.eachChunk(ctx, tx, q, fr, func(rows *sql.Rows) error {
				var r string
				if err := rows.Scan(&r); err != nil {
					return err
				}
				addR(r)
				return nil
			}); err != nil {
				return nil, nil, fmt.Errorf("rules: %w", err)
			}
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
	loadedRecs, prevOf, err := s.loadRecords(ctx, tx, sortedKeys(recKeys))
	if err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	live := make([]loaded, 0, len(loadedRecs))
	for _, k := range sortedKeys(recKeys) {
		if r, ok := loadedRecs[k]; ok {
			live = append(live, loaded{rec: r, prev: prevOf[k]})
		}
	}

	recs := make([]identity.Record, len(live))
	prev := map[string]string{}
	for i, l := range live {
		recs[i] = l.rec
		prev[l.rec.Key()] = l.prev
	}
	rules, err := s.rulesFor(ctx, tx, sortedKeys(recKeys))
	if err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	links, err := s.linksFor(ctx, tx, sortedKeys(recKeys))
	if err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	result := s.res.ResolveLinks(recs, rules, links)
	clusters := result.Clusters
	if err := s.writeReviews(ctx, tx, sortedKeys(recKeys), result.Reviews); err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	clusterOf := map[string]string{}
	newIDs := map[string]bool{}
	for _, c := range clusters {
		newIDs[c.ID] = true
		for _, r := range c.Records {
			clusterOf[r.Key()] = c.ID
		}
	}
	if err := s.writeGoldens(ctx, b, clusters, prev); err != nil {
		return fmt.Errorf("resolve: %w", err)
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
	if err := s.retireGoldens(ctx, b, sortedKeys(oldGoldens), newIDs, former, clusterOf); err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	// Deleted records belong to no golden customer.
	if err := s.execChunk(ctx, tx, `UPDATE records SET golden_id = NULL WHERE deleted = 1 AND rkey IN (%s)`, nil, sortedKeys(b.dirty)); err != nil {
		return fmt.Errorf("resolve: detach deleted: %w", err)
	}
	return nil
}

// retireGoldens merges or retires the old golden ids that no cluster
// carries any more, in a few set-based statements: during a sync most
// batches merge goldens, and one statement per merge cost more than the
// rest of the batch.
func (s *Store) retireGoldens(ctx context.Context, b *batch, old []string, newIDs map[string]bool, former, clusterOf map[string]string) error {
	tx := b.tx
	var gone []string
	for _, g := range old {
		if !newIDs[g] {
			gone = append(gone, g)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if err := s.execChunk(ctx, tx, `DELETE FROM golden_attrs WHERE golden_id IN (%s)`, nil, gone); err != nil {
		return fmt.Errorf("clear search values: %w", err)
	}
	active := map[string]bool{}
	if err := s.eachChunk(ctx, tx, `SELECT id FROM goldens WHERE status = 'active' AND id IN (%s)`, gone, func(rows *sql.Rows) error {
		var id string
		err := rows.Scan(&id)
		active[id] = true
		return err
	}); err != nil {
		return fmt.Errorf("read goldens: %w", err)
	}
	now := time.Now().UnixNano()
	var mergeRows, mergeLog, changeRows [][]any
	var retired []string
	for _, g := range gone {
		if !active[g] {
			continue
		}
		if f, ok := former[g]; ok {
			surv := clusterOf[f]
			b.stats.GoldenMerged++
			mergeRows = append(mergeRows, []any{g, surv})
			mergeLog = append(mergeLog, []any{g, surv, now})
			changeRows = append(changeRows, []any{g, hub.ChangeMerged, surv, now})
			continue
		}
		retired = append(retired, g)
		changeRows = append(changeRows, []any{g, hub.ChangeRetired, nil, now})
	}
	if err := s.insertRows(ctx, tx, `UPDATE goldens SET status = 'merged', merged_into = v.column2 FROM (VALUES `, 2,
		`) AS v WHERE goldens.id = v.column1`, mergeRows); err != nil {
		return fmt.Errorf("merge goldens: %w", err)
	}
	if err := s.execChunk(ctx, tx, `UPDATE goldens SET status = 'retired', merged_into = NULL WHERE id IN (%s)`, nil, retired); err != nil {
		return fmt.Errorf("retire goldens: %w", err)
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO golden_changes (golden_id, op, survivor, at) VALUES `, 4, ``, changeRows); err != nil {
		return fmt.Errorf("record golden changes: %w", err)
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO merges (loser, survivor, at) VALUES `, 3, ``, mergeLog); err != nil {
		return fmt.Errorf("record merges: %w", err)
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

type storedGolden struct {
	status, data, lineage string
}

// writeGoldens stores the golden customers of clusters that changed, and
// points records at their cluster, in a few multi-row statements.
func (s *Store) writeGoldens(ctx context.Context, b *batch, clusters []identity.Cluster, prev map[string]string) error {
	tx := b.tx
	ids := make([]string, len(clusters))
	for i, c := range clusters {
		ids[i] = c.ID
	}
	stored := map[string]storedGolden{}
	if err := s.eachChunk(ctx, tx, `SELECT id, status, data, lineage FROM goldens WHERE id IN (%s)`, ids, func(rows *sql.Rows) error {
		var (
			id           string
			g            storedGolden
			data, lineag sql.NullString
		)
		if err := rows.Scan(&id, &g.status, &data, &lineag); err != nil {
			return err
		}
		g.data, g.lineage = data.String, lineag.String
		stored[id] = g
		return nil
	}); err != nil {
		return fmt.Errorf("read goldens: %w", err)
	}
	var goldenRows, attrRows, moveRows [][]any
	var changed []string
	for _, c := range clusters {
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
			updated = max(updated, at)
		}
		old, ok := stored[c.ID]
		if !ok || old.status != "active" {
			b.stats.GoldenCreated++
		}
		valueChanged := !ok || old.status != "active" || old.data != string(data)
		if valueChanged || old.lineage != string(linJSON) {
			goldenRows = append(goldenRows, []any{c.ID, cust.Kind, string(data), string(linJSON), created, updated})
		}
		// Only a change of the golden customer's values is a change for
		// the feed: a source reporting values the golden already has (a
		// system echoing a write-back) moves lineage, not the customer.
		if valueChanged {
			changed = append(changed, c.ID)
			for _, a := range searchAttrs(cust, s.res.Config().DefaultRegion) {
				attrRows = append(attrRows, []any{a[0], a[1], c.ID})
			}
		}
		for _, r := range c.Records {
			if prev[r.Key()] != c.ID {
				moveRows = append(moveRows, []any{r.Key(), c.ID})
			}
		}
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO goldens (id, kind, data, lineage, created_at, updated_at, status) VALUES `, 7,
		`ON CONFLICT (id) DO UPDATE SET status = 'active', merged_into = NULL, kind = excluded.kind, data = excluded.data,
  lineage = excluded.lineage, created_at = excluded.created_at, updated_at = excluded.updated_at`, withActive(goldenRows)); err != nil {
		return fmt.Errorf("write goldens: %w", err)
	}
	if err := s.recordChanges(ctx, tx, changed, hub.ChangeUpsert, ""); err != nil {
		return err
	}
	if err := s.writeAttrs(ctx, tx, changed, attrRows); err != nil {
		return err
	}
	// UPDATE ... FROM (VALUES ...): the VALUES columns are column1,
	// column2 in both SQLite and PostgreSQL.
	if err := s.insertRows(ctx, tx, `UPDATE records SET golden_id = v.column2 FROM (VALUES `, 2,
		`) AS v WHERE records.rkey = v.column1`, moveRows); err != nil {
		return fmt.Errorf("link records: %w", err)
	}
	return nil
}

// writeAttrs makes the search values of the changed goldens equal to want
// (attr, value, golden_id rows), touching only the rows that differ: a
// golden gaining a member keeps most of its values, and rewriting them
// all cost two index writes per value.
func (s *Store) writeAttrs(ctx context.Context, tx *sql.Tx, changed []string, want [][]any) error {
	type attr struct{ a, v, g string }
	have := map[attr]bool{}
	if err := s.eachChunk(ctx, tx, `SELECT attr, value, golden_id FROM golden_attrs WHERE golden_id IN (%s)`, changed, func(rows *sql.Rows) error {
		var x attr
		err := rows.Scan(&x.a, &x.v, &x.g)
		have[x] = true
		return err
	}); err != nil {
		return fmt.Errorf("read search values: %w", err)
	}
	keep := map[attr]bool{}
	var add [][]any
	for _, r := range want {
		x := attr{r[0].(string), r[1].(string), r[2].(string)}
		if keep[x] {
			continue
		}
		keep[x] = true
		if !have[x] {
			add = append(add, r)
		}
	}
	var drop [][]any
	for x := range have {
		if !keep[x] {
			drop = append(drop, []any{x.a, x.v, x.g})
		}
	}
	if err := s.insertRows(ctx, tx, `DELETE FROM golden_attrs WHERE (attr, value, golden_id) IN (VALUES `, 3, `)`, drop); err != nil {
		return fmt.Errorf("clear search values: %w", err)
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO golden_attrs (attr, value, golden_id) VALUES `, 3, ` ON CONFLICT DO NOTHING`, add); err != nil {
		return fmt.Errorf("write search values: %w", err)
	}
	return nil
}

// withActive appends the status placeholder value: insertRows gives every
// column a parameter.
func withActive(rows [][]any) [][]any {
	for i := range rows {
		rows[i] = append(rows[i], "active")
	}
	return rows
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

// rulesFor loads the steward rules touching any of the records.
func (s *Store) rulesFor(ctx context.Context, tx *sql.Tx, rkeys []string) ([]identity.Rule, error) {
	seen := map[[2]string]bool{}
	var out []identity.Rule
	for _, q := range []string{`SELECT a, b, kind FROM identity_rules WHERE a IN (%s)`, `SELECT a, b, kind FROM identity_rules WHERE b IN (%s)`} {
		if err := s.eachChunk(ctx, tx, q, rkeys, func(rows *sql.Rows) error {
			var r identity.Rule
			if err := rows.Scan(&r.A, &r.B, &r.Kind); err != nil {
				return err
			}
			if !seen[[2]string{r.A, r.B}] {
				seen[[2]string{r.A, r.B}] = true
				out = append(out, r)
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("load rules: %w", err)
		}
	}
	return out, nil
}

// writeReviews replaces the review candidates of the records with the
// ones the latest resolution found.
func (s *Store) writeReviews(ctx context.Context, tx *sql.Tx, rkeys []string, reviews []identity.Candidate) error {
	for _, q := range []string{`DELETE FROM review_candidates WHERE a IN (%s)`, `DELETE FROM review_candidates WHERE b IN (%s)`} {
		if err := s.execChunk(ctx, tx, q, nil, rkeys); err != nil {
			return fmt.Errorf("clear reviews: %w", err)
		}
	}
	rows := make([][]any, len(reviews))
	for i, r := range reviews {
		rows[i] = []any{r.A, r.B, r.Score}
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO review_candidates (a, b, score) VALUES `, 3, ``, rows); err != nil {
		return fmt.Errorf("write reviews: %w", err)
	}
	return nil
}

// recordChanges appends to the golden change feed.
func (s *Store) recordChanges(ctx context.Context, tx *sql.Tx, ids []string, op, survivor string) error {
	now := time.Now().UnixNano()
	var surv any
	if survivor != "" {
		surv = survivor
	}
	rows := make([][]any, len(ids))
	for i, id := range ids {
		rows[i] = []any{id, op, surv, now}
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO golden_changes (golden_id, op, survivor, at) VALUES `, 4, ``, rows); err != nil {
		return fmt.Errorf("record golden changes: %w", err)
	}
	return nil
}

// Changes returns up to limit golden changes with seq > after, in order.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]hub.GoldenChange, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = DefaultLimit
	}
	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT seq, golden_id, op, COALESCE(survivor, ''), at FROM golden_changes
WHERE seq > ? ORDER BY seq LIMIT ?`), after, limit)
	if err != nil {
		return nil, fmt.Errorf("golden changes: %w", err)
	}
	defer rows.Close()
	var out []hub.GoldenChange
	for rows.Next() {
		var (
			c  hub.GoldenChange
			at int64
		)
		if err := rows.Scan(&c.Seq, &c.GoldenID, &c.Op, &c.Survivor, &at); err != nil {
			return nil, fmt.Errorf("golden changes: %w", err)
		}
		c.At = fromNanos(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

func isBlockKey(k string) bool {
	_, rest, _ := strings.Cut(k, "|")
	return strings.HasPrefix(rest, identity.ClassBlock+":")
}

// linksFor loads the fuzzy links touching any of the records.
func (s *Store) linksFor(ctx context.Context, tx *sql.Tx, rkeys []string) ([]identity.Link, error) {
	if s.res.MaxBlock() == 0 {
		return []identity.Link{}, nil
	}
	seen := map[[2]string]bool{}
	out := []identity.Link{}
	for _, q := range []string{`SELECT a, b, score, auto FROM fuzzy_links WHERE a IN (%s)`, `SELECT a, b, score, auto FROM fuzzy_links WHERE b IN (%s)`} {
		if err := s.eachChunk(ctx, tx, q, rkeys, func(rows *sql.Rows) error {
			var (
				l    identity.Link
				auto int
			)
			if err := rows.Scan(&l.A, &l.B, &l.Score, &auto); err != nil {
				return err
			}
			l.Auto = auto == 1
			if !seen[[2]string{l.A, l.B}] {
				seen[[2]string{l.A, l.B}] = true
				out = append(out, l)
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("load fuzzy links: %w", err)
		}
	}
	return out, nil
}

// relink recomputes the fuzzy links of the customer records just written:
// each is scored against the records sharing one of its blocking keys
// (blocks over the size cap are skipped). A link depends on both records,
// and is rewritten whenever either changes, so the links are a function of
// the records, whatever their arrival order.
func (s *Store) relink(ctx context.Context, tx *sql.Tx, rkeys []string) error {
	max := s.res.MaxBlock()
	if max == 0 || len(rkeys) == 0 {
		return nil
	}
	for _, q := range []string{`DELETE FROM fuzzy_links WHERE a IN (%s)`, `DELETE FROM fuzzy_links WHERE b IN (%s)`} {
		if err := s.execChunk(ctx, tx, q, nil, rkeys); err != nil {
			return fmt.Errorf("clear fuzzy links: %w", err)
		}
	}
	// The blocking keys of the written records, and every member of those blocks.
	blocksOf := map[string][]string{}
	blockKeys := map[string]bool{}
	if err := s.eachChunk(ctx, tx, `SELECT rkey, mkey FROM match_keys WHERE rkey IN (%s)`, rkeys, func(rows *sql.Rows) error {
		var r, k string
		if err := rows.Scan(&r, &k); err != nil {
			return err
		}
		if isBlockKey(k) {
			blocksOf[r] = append(blocksOf[r], k)
			blockKeys[k] = true
		}
		return nil
	}); err != nil {
		return fmt.Errorf("blocking keys: %w", err)
	}
	members := map[string][]string{}
	if err := s.eachChunk(ctx, tx, `SELECT mkey, rkey FROM match_keys WHERE mkey IN (%s)`, sortedKeys(blockKeys), func(rows *sql.Rows) error {
		var k, r string
		if err := rows.Scan(&k, &r); err != nil {
			return err
		}
		members[k] = append(members[k], r)
		return nil
	}); err != nil {
		return fmt.Errorf("block members: %w", err)
	}
	need := map[string]bool{}
	for _, r := range rkeys {
		for _, k := range blocksOf[r] {
			if len(members[k]) > max {
				continue
			}
			for _, m := range members[k] {
				need[m] = true
			}
		}
	}
	if len(need) == 0 {
		return nil
	}
	recs, _, err := s.loadRecords(ctx, tx, sortedKeys(need))
	if err != nil {
		return err
	}
	seen := map[[2]string]bool{}
	var rows [][]any
	for _, r := range rkeys {
		a, ok := recs[r]
		if !ok {
			continue
		}
		for _, k := range blocksOf[r] {
			if len(members[k]) > max {
				continue
			}
			for _, m := range members[k] {
				b, ok := recs[m]
				if !ok || m == r {
					continue
				}
				l, ok := s.res.ScorePair(a, b)
				if !ok || seen[[2]string{l.A, l.B}] {
					continue
				}
				seen[[2]string{l.A, l.B}] = true
				rows = append(rows, []any{l.A, l.B, l.Score, b2i(l.Auto)})
			}
		}
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO fuzzy_links (a, b, score, auto) VALUES `, 4, ``, rows); err != nil {
		return fmt.Errorf("write fuzzy links: %w", err)
	}
	return nil
}

// loadRecords reads live customer records by key, with the golden id
// each belongs to. It reads the event id of every record first and parses
// only those the cache does not hold in that version: during a sync most
// records a batch reads were read or written by the batches before.
func (s *Store) loadRecords(ctx context.Context, tx *sql.Tx, rkeys []string) (map[string]identity.Record, map[string]string, error) {
	out := make(map[string]identity.Record, len(rkeys))
	golden := make(map[string]string, len(rkeys))
	var miss []string
	if err := s.eachChunk(ctx, tx, `SELECT rkey, event_id, golden_id
FROM records WHERE rkey IN (%s) AND deleted = 0 AND entity = 'customer'`, rkeys, func(rows *sql.Rows) error {
		var (
			rkey, event string
			g           sql.NullString
		)
		if err := rows.Scan(&rkey, &event, &g); err != nil {
			return err
		}
		golden[rkey] = g.String
		if r, ok := s.cache.get(rkey, event); ok {
			out[rkey] = r
		} else {
			miss = append(miss, rkey)
		}
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("load records: %w", err)
	}
	if err := s.eachChunk(ctx, tx, `SELECT rkey, system, source_entity, source_id, updated_at, data, event_id
FROM records WHERE rkey IN (%s)`, miss, func(rows *sql.Rows) error {
		var (
			rkey, data, event string
			at                int64
			r                 identity.Record
		)
		if err := rows.Scan(&rkey, &r.System, &r.SourceEntity, &r.SourceID, &at, &data, &event); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(data), &r.Customer); err != nil {
			return fmt.Errorf("stored record %s: %w", rkey, err)
		}
		r.UpdatedAt = fromNanos(at)
		out[rkey] = r
		s.cache.put(rkey, event, r)
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("load records: %w", err)
	}
	return out, golden, nil
}
