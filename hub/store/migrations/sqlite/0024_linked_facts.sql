-- The value facts (0023) at the end of records_linked, so the recompute of
-- a customer reads its records' facts from the index range alone, without
-- a lookup of each record's row (most of reading them). The index holds
-- the same entries as before, longer by the fact.
DROP INDEX records_linked;
CREATE INDEX records_linked ON records (ref_system, ref_id, entity, deleted, link_at DESC, rkey, value_fact) WHERE ref_system IS NOT NULL;
