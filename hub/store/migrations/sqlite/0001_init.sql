-- Events already seen, applied or skipped as older: replays change nothing.
CREATE TABLE applied_events (
    event_id TEXT PRIMARY KEY
);

-- Every source record, of every entity, newest version only. Deletes stay
-- as tombstones so an older version arriving later is still skipped.
CREATE TABLE records (
    rkey          TEXT PRIMARY KEY,          -- system/source_entity/source_id
    system        TEXT NOT NULL,
    source_entity TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    entity        TEXT NOT NULL,
    updated_at    BIGINT NOT NULL,           -- source_updated_at, unix nanoseconds
    deleted       INTEGER NOT NULL DEFAULT 0,
    event_id      TEXT NOT NULL,
    data          TEXT,
    ref_system    TEXT,                      -- customer_ref of orders, payments, cases
    ref_id        TEXT,
    golden_id     TEXT                       -- customers: the golden customer
);
CREATE INDEX records_lookup ON records (entity, system, source_id);
CREATE INDEX records_ref ON records (ref_system, ref_id);
CREATE INDEX records_golden ON records (golden_id);

-- Match keys of live customer records; records sharing a key are candidates.
CREATE TABLE match_keys (
    mkey TEXT NOT NULL,
    rkey TEXT NOT NULL,
    PRIMARY KEY (mkey, rkey)
);
CREATE INDEX match_keys_rkey ON match_keys (rkey);

-- Golden customers; merged ones point at their survivor, retired ones have no sources left.
CREATE TABLE goldens (
    id          TEXT PRIMARY KEY,
    status      TEXT NOT NULL,               -- active | merged | retired
    merged_into TEXT,
    kind        TEXT,
    data        TEXT,
    lineage     TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX goldens_merged_into ON goldens (merged_into);

-- Search values of active golden customers (normalized e-mail, phone, tax id, names).
CREATE TABLE golden_attrs (
    attr      TEXT NOT NULL,
    value     TEXT NOT NULL,
    golden_id TEXT NOT NULL,
    PRIMARY KEY (attr, value, golden_id)
);
CREATE INDEX golden_attrs_golden ON golden_attrs (golden_id);

-- Merges as they happened, for audit.
CREATE TABLE merges (
    loser    TEXT NOT NULL,
    survivor TEXT NOT NULL,
    at       BIGINT NOT NULL
);

CREATE TABLE positions (
    connector TEXT PRIMARY KEY,
    pos       BLOB
);
