-- The golden customer's credit limit beside its summary (the JSON of the
-- record's credit_limit, '' without one), written with the record: the
-- value recompute read it from the golden row, whose record it decoded
-- when it held one, a read per chunk of customers of its own; from the
-- summary it comes with the customer's source records in one statement
-- (docs/value.md). Only active golden customers have a summary.
ALTER TABLE golden_summaries ADD COLUMN credit_limit TEXT NOT NULL DEFAULT '';
UPDATE golden_summaries SET credit_limit = COALESCE(
    (SELECT json_extract(g.data, '$.credit_limit') FROM goldens g WHERE g.id = golden_summaries.id), '')
WHERE id IN (SELECT id FROM goldens WHERE status = 'active' AND instr(data, '"credit_limit"') > 0);
