-- When each mark of the deferred recompute was first set and last touched
-- (unix milliseconds), so the recompute takes a customer once it stopped
-- changing, or once its first mark is older than the bound on staleness,
-- rather than once per pass while a sync keeps touching it (docs/value.md).
-- Marks from before carry 0: taken by the next pass.
ALTER TABLE value_dirty ADD COLUMN first_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE value_dirty ADD COLUMN last_at BIGINT NOT NULL DEFAULT 0;
