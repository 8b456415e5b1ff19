-- Fewer index entries per customer record: at a million customers every
-- entry is a random page of a large index, and they were most of what
-- applying a record cost.
--
-- A record's match keys and a golden customer's search values were also
-- indexed by their owner, only to find the rows to delete when the owner
-- changes. The owner's row now keeps the list (a JSON array), so the old
-- rows are deleted by primary key and the two reverse indexes go.
ALTER TABLE records ADD COLUMN mkeys TEXT;
UPDATE records r SET mkeys = (SELECT COALESCE(json_agg(m.mkey ORDER BY m.mkey), '[]'::json)::text FROM match_keys m WHERE m.rkey = r.rkey)
WHERE entity = 'customer' AND deleted = 0;
DROP INDEX match_keys_rkey;

ALTER TABLE goldens ADD COLUMN attrs TEXT;
UPDATE goldens g SET attrs = (SELECT COALESCE(json_agg(json_build_array(a.attr, a.value) ORDER BY a.attr, a.value), '[]'::json)::text
  FROM golden_attrs a WHERE a.golden_id = g.id)
WHERE status = 'active';
DROP INDEX golden_attrs_golden;

-- Only customer records have a golden id and only orders, payments and
-- cases a customer reference: the other rows need no entry. Every query of
-- these indexes compares the column, which implies IS NOT NULL.
DROP INDEX records_golden;
CREATE INDEX records_golden ON records (golden_id) WHERE golden_id IS NOT NULL;
DROP INDEX records_linked;
CREATE INDEX records_linked ON records (ref_system, ref_id, entity, deleted, link_at DESC, rkey) WHERE ref_system IS NOT NULL;
