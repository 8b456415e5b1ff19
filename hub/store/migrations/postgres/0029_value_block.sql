-- The part of a customer's figures its golden state carries (the value
-- block: as_of, revenue of the last 12 months by currency, open and
-- overdue balance), as a small JSON of its own beside the figures: the
-- golden change stream and the API decoded the whole figures document
-- (2-3 kB) for those four fields, a fifth of the stream's reading of
-- states in a first sync. NULL in rows written before it until their
-- next recompute; readers decode the figures then.
ALTER TABLE customer_value ADD COLUMN block TEXT;
