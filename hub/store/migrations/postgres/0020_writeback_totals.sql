-- Write-back counters' totals per target ("records/written",
-- "skipped/conflict", ...), so the metrics go on across restarts.
CREATE TABLE writeback_totals (
    target TEXT NOT NULL,
    name   TEXT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (target, name)
);
-- The golden customer a write-back carried, to tell crmhub's echo from a
-- person's edit that got the same version (whole-second timestamps).
ALTER TABLE writeback_ledger ADD COLUMN echo_data TEXT NOT NULL DEFAULT '';
-- When crmhub last wrote the record (the hub's clock), 0 when the ledger's
-- values were found in the system: a later system change of a found value
-- is the system's own, while a written one may not have been read back yet.
ALTER TABLE writeback_ledger ADD COLUMN wrote BIGINT NOT NULL DEFAULT 0;
