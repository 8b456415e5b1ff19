-- The golden change feed (an outbox): written in the transaction that
-- changes a golden customer, read in seq order by pollers and publishers.
CREATE TABLE golden_changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    golden_id TEXT NOT NULL,
    op        TEXT NOT NULL,                 -- upsert | merged | retired
    survivor  TEXT,
    at        BIGINT NOT NULL
);
