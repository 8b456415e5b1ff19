-- Golden customers whose write-back to a target conflicted (the target
-- record changed in the system since the hub read it) and waits for a
-- retry: kept here so that a restarted writer retries them too.
CREATE TABLE writeback_conflicts (
    target    TEXT NOT NULL,
    golden_id TEXT NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (target, golden_id)
);
