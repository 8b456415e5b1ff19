-- Write-back counters' totals per target ("records/written",
-- "skipped/conflict", ...), so the metrics go on across restarts.
CREATE TABLE writeback_totals (
    target TEXT NOT NULL,
    name   TEXT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (target, name)
);
