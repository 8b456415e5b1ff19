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
	"github.com/crmhub/crmhub/hub/identity"
)

// The golden customers as the store keeps them: what identity decided
// (resolve.go), written with their search values, summaries and the
// change feed.

// retireGoldens merges or retires the old golden ids that no cluster
// carries any more, as identity decided, in a few set-based statements:
// during a sync most batches merge goldens, and one statement per merge
// cost more than the rest of the batch. Only active goldens change.
func (s *Store) retireGoldens(ctx context.Context, b *batch, gone []identity.Retirement) error {
	tx := b.tx
	if len(gone) == 0 {
		return nil
	}
	ids := make([]string, len(gone))
	for i, g := range gone {
		ids[i] = g.ID
	}
	active := map[string]bool{}
	var dropAttrs [][]any
	if err := s.eachChunk(ctx, tx, `SELECT id, COALESCE(attrs, '') FROM goldens WHERE status = 'active' AND id IN (%s)`, ids, func(rows *sql.Rows) error {
		var id, attrs string
		if err := rows.Scan(&id, &attrs); err != nil {
			return err
		}
		active[id] = true
		have, err := decodeList[[2]string](attrs)
		if err != nil {
			return fmt.Errorf("golden %s: search values: %w", id, err)
		}
		for _, a := range have {
			dropAttrs = append(dropAttrs, []any{a[0], a[1], id})
		}
		return nil
	}); err != nil {
		return fmt.Errorf("read goldens: %w", err)
	}
	if err := s.deleteRows(ctx, tx, dropSearchValues, dropAttrs); err != nil {
		return fmt.Errorf("clear search values: %w", err)
	}
	now := time.Now().UnixNano()
	var mergeRows, mergeLog, changeRows [][]any
	var retired []string
	for _, g := range gone {
		if !active[g.ID] {
			continue
		}
		if g.Survivor != "" {
			b.stats.GoldenMerged++
			mergeRows = append(mergeRows, []any{g.ID, g.Survivor})
			mergeLog = append(mergeLog, []any{g.ID, g.Survivor, now})
			changeRows = append(changeRows, []any{g.ID, hub.ChangeMerged, g.Survivor, now})
			continue
		}
		retired = append(retired, g.ID)
		changeRows = append(changeRows, []any{g.ID, hub.ChangeRetired, nil, now})
	}
	if err := s.insertRows(ctx, tx, `UPDATE goldens SET status = 'merged', merged_into = v.column2, attrs = NULL FROM (`, "text,text",
		`) AS v WHERE goldens.id = v.column1`, mergeRows); err != nil {
		return fmt.Errorf("merge goldens: %w", err)
	}
	if err := s.execChunk(ctx, tx, `UPDATE goldens SET status = 'retired', merged_into = NULL, attrs = NULL WHERE id IN (%s)`, retired); err != nil {
		return fmt.Errorf("retire goldens: %w", err)
	}
	if err := s.dropSummaries(ctx, tx, append(retired, firstColumn(mergeRows)...)); err != nil {
		return err
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO golden_changes (golden_id, op, survivor, at) `, "text,text,text,bigint", ``, changeRows); err != nil {
		return fmt.Errorf("record golden changes: %w", err)
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO merges (loser, survivor, at) `, "text,text,bigint", ``, mergeLog); err != nil {
		return fmt.Errorf("record merges: %w", err)
	}
	return nil
}

type storedGolden struct {
	status, data, lineage string
	attrs                 string // search values in golden_attrs (JSON), "" if none
}

// writeGoldens stores the golden customers of clusters that changed (as
// identity survived them), and points records at their cluster, in a few
// multi-row statements.
func (s *Store) writeGoldens(ctx context.Context, b *batch, clusters []identity.Golden, prev map[string]string) error {
	tx := b.tx
	ids := make([]string, len(clusters))
	for i, c := range clusters {
		ids[i] = c.ID
	}
	stored := map[string]storedGolden{}
	if err := s.eachChunk(ctx, tx, `SELECT id, status, data, lineage, attrs FROM goldens WHERE id IN (%s)`, ids, func(rows *sql.Rows) error {
		var (
			id                  string
			g                   storedGolden
			data, lineag, attrs sql.NullString
		)
		if err := rows.Scan(&id, &g.status, &data, &lineag, &attrs); err != nil {
			return err
		}
		g.data, g.lineage, g.attrs = data.String, lineag.String, attrs.String
		if g.status != "active" {
			g.attrs = "" // none are in golden_attrs
		}
		stored[id] = g
		return nil
	}); err != nil {
		return fmt.Errorf("read goldens: %w", err)
	}
	var goldenRows, updRows, attrRows, dropAttrs, moveRows, summaries [][]any
	var changed, disagree []string
	for _, c := range clusters {
		cust, lin := c.Customer, c.Lineage
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
		attrs := old.attrs
		// Only a change of the golden customer's values is a change for
		// the feed: a source reporting values the golden already has (a
		// system echoing a write-back) moves lineage, not the customer.
		if valueChanged {
			changed = append(changed, c.ID)
			have, err := decodeList[[2]string](old.attrs)
			if err != nil {
				return fmt.Errorf("golden %s: search values: %w", c.ID, err)
			}
			want := uniqAttrs(searchAttrs(cust, s.res.Config().DefaultRegion))
			add, drop := diffSets(have, want)
			for _, a := range add {
				attrRows = append(attrRows, []any{a[0], a[1], c.ID})
			}
			for _, a := range drop {
				dropAttrs = append(dropAttrs, []any{a[0], a[1], c.ID})
			}
			attrs = encodeList(want)
		}
		if !valueChanged && s.disagrees(b, c.Cluster, data) {
			disagree = append(disagree, c.ID)
		}
		if valueChanged || old.lineage != string(linJSON) {
			if ok && !s.pg {
				updRows = append(updRows, []any{c.ID, cust.Kind, string(data), string(linJSON), created, updated, attrs})
			} else {
				goldenRows = append(goldenRows, []any{c.ID, cust.Kind, string(data), string(linJSON), created, updated, attrs})
			}
			credit, err := creditLimitText(cust.CreditLimit)
			if err != nil {
				return fmt.Errorf("golden %s: %w", c.ID, err)
			}
			summaries = append(summaries, append(summaryRow(c.ID, &cust, created, updated), credit))
		}
		for _, r := range c.Records {
			if _, ok := b.pending[r.Key()]; ok {
				continue // written with its golden id by writePending
			}
			if prev[r.Key()] != c.ID {
				moveRows = append(moveRows, []any{r.Key(), c.ID})
			}
		}
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO goldens (id, kind, data, lineage, created_at, updated_at, attrs, status) `, "text,text,text,text,bigint,bigint,text,text",
		s.pgOnly(`ON CONFLICT (id) DO UPDATE SET status = 'active', merged_into = NULL, kind = excluded.kind, data = excluded.data,
  lineage = excluded.lineage, created_at = excluded.created_at, updated_at = excluded.updated_at, attrs = excluded.attrs`), withActive(goldenRows)); err != nil {
		return fmt.Errorf("write goldens: %w", err)
	}
	// SQLite: stored goldens get a plain UPDATE (see insertRows).
	if err := s.insertRows(ctx, tx, `UPDATE goldens SET status = 'active', merged_into = NULL, kind = v.column2, data = v.column3,
  lineage = v.column4, created_at = v.column5, updated_at = v.column6, attrs = v.column7 FROM (`, "text,text,text,text,bigint,bigint,text",
		`) AS v WHERE goldens.id = v.column1`, updRows); err != nil {
		return fmt.Errorf("write goldens: %w", err)
	}
	if err := s.putSummaries(ctx, tx, summaries); err != nil {
		return err
	}
	if err := s.recordChanges(ctx, tx, changed, hub.ChangeUpsert, ""); err != nil {
		return err
	}
	if err := s.recordChanges(ctx, tx, disagree, hub.ChangeSources, ""); err != nil {
		return err
	}
	// Only the search values that differ are written: a golden gaining a
	// member keeps most of its values, and each is an index entry.
	if err := s.deleteRows(ctx, tx, dropSearchValues, dropAttrs); err != nil {
		return fmt.Errorf("clear search values: %w", err)
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO golden_attrs (attr, value, golden_id) `, "text,text,text", ` ON CONFLICT DO NOTHING`, attrRows); err != nil {
		return fmt.Errorf("write search values: %w", err)
	}
	// UPDATE ... FROM (VALUES ...): the VALUES columns are column1,
	// column2 in both SQLite and PostgreSQL.
	if err := s.insertRows(ctx, tx, `UPDATE records SET golden_id = v.column2 FROM (`, "text,text",
		`) AS v WHERE records.rkey = v.column1`, moveRows); err != nil {
		return fmt.Errorf("link records: %w", err)
	}
	return nil
}

// disagrees says whether a record of the cluster applied in this batch
// holds a value the golden customer (data, unchanged by the batch) does not:
// the system now shows something else than the hub decided, and
// write-back must hear of it although no golden value changed. crmhub's
// own write read back (an echo) is not asked: the fields it did not write
// may differ from the golden ones for good (another spelling of a name
// that lost), and that is no news.
func (s *Store) disagrees(b *batch, c identity.Cluster, golden []byte) bool {
	var gold map[string]any
	for _, r := range c.Records {
		if p, ok := b.pending[r.Key()]; !ok || p.echo {
			continue
		}
		if gold == nil && json.Unmarshal(golden, &gold) != nil {
			return false
		}
		rec, err := json.Marshal(r.Customer)
		if err != nil {
			continue
		}
		var cur map[string]any
		if json.Unmarshal(rec, &cur) != nil {
			continue
		}
		for f, v := range cur {
			g, ok := gold[f]
			if !ok || f == "updated_at" || f == "created_at" || f == "external_ids" || f == "custom" || f == "consent" {
				continue // not a survived value the system could be brought back to
			}
			if sameJSON(v, g) {
				continue
			}
			list, isList := v.([]any)
			if !isList {
				return true
			}
			for _, e := range list {
				if !inList(e, g) {
					return true
				}
			}
		}
	}
	return false
}

// withActive appends the status placeholder value: insertRows gives every
// column a parameter.
func withActive(rows [][]any) [][]any {
	for i := range rows {
		rows[i] = append(rows[i], "active")
	}
	return rows
}

// uniqAttrs sorts the pairs and drops repeated ones: goldens.attrs is
// then the same list whatever order the values were found in.
func uniqAttrs(attrs [][2]string) [][2]string {
	out := slices.Clone(attrs)
	slices.SortFunc(out, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	return slices.Compact(out)
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
	for _, n := range searchNames(c) {
		out = append(out, [2]string{"name", n})
	}
	return out
}

// searchNames are the normalized names a customer is found by.
func searchNames(c hub.Customer) []string {
	var out []string
	for _, n := range []string{c.FullName, c.GivenName + " " + c.FamilyName, c.FamilyName, c.GivenName, c.OrganizationName} {
		if n := identity.NormalizeName(n); n != "" {
			out = append(out, n)
		}
	}
	return out
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
	if err := s.insertRows(ctx, tx, `INSERT INTO golden_changes (golden_id, op, survivor, at) `, "text,text,text,bigint", ``, rows); err != nil {
		return fmt.Errorf("record golden changes: %w", err)
	}
	return nil
}

// feedPage reads a page of the change feed.
const feedPage = `SELECT seq, golden_id, op, COALESCE(survivor, ''), at FROM golden_changes
WHERE seq > CAST(? AS BIGINT) ORDER BY seq LIMIT CAST(? AS BIGINT)`

// Changes returns up to limit golden changes with seq > after, in order.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]hub.GoldenChange, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = DefaultLimit
	}
	// Prepared once on the read pool, with the placeholders cast
	// (stmtCache says why): the golden change stream and every client of
	// /v1/changes poll it, and SQLite prepared it twice per call, 11% of
	// the CPU of `crmhub bench api`'s /v1/changes run.
	rows, err := s.readQuery(ctx, s.q(feedPage), after, limit)
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
