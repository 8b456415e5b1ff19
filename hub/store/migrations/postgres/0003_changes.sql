-- The golden change feed (an outbox): written in the transaction that
-- changes a golden customer, read in seq order by pollers and publishers.
-- Writers hold the apply lock, so seq order is commit order.
CREATE TABLE golden_changes (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    golden_id TEXT NOT NULL,
    op        TEXT NOT NULL,                 -- upsert | merged | retired
    survivor  TEXT,
    at        BIGINT NOT NULL
);
