package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Echoes: a customer record read back at the version write-back wrote is
// crmhub's own write. The ledger (table writeback_ledger) is written by
// hub/store/ledger; it is read here because the check runs inside Apply's
// transaction, on the batch's items, before they are written: the store
// owns this read, the ledger package the rest of the table.

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
