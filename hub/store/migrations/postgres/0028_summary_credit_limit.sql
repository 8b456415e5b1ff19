-- The golden customer's credit limit beside its summary (the JSON of the
-- record's credit_limit, '' without one), written with the record: the
-- value recompute read it from the golden row, a read per chunk of
-- customers of its own; from the summary it comes with the customer's
-- source records in one statement (docs/value.md).
ALTER TABLE golden_summaries ADD COLUMN credit_limit TEXT NOT NULL DEFAULT '';
UPDATE golden_summaries s SET credit_limit = COALESCE(g.data::jsonb->>'credit_limit', '')
FROM goldens g WHERE g.id = s.id AND g.status = 'active' AND g.data LIKE '%"credit_limit"%';
