-- Dead letters indexed from the dead-letter topic, for operations to list,
-- replay after a mapping fix, or resolve. id is topic:partition:offset, so
-- indexing a message twice stores it once; seq orders by arrival.
CREATE TABLE dead_letters (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    connector         TEXT NOT NULL,
    system            TEXT NOT NULL,
    source_entity     TEXT NOT NULL,
    source_id         TEXT NOT NULL,
    mapping           TEXT NOT NULL,
    version           INTEGER NOT NULL,
    field             TEXT NOT NULL,
    reason_class      TEXT NOT NULL,
    reason            TEXT NOT NULL,
    meta              TEXT,
    payload           BLOB,
    raw               BLOB,
    source_updated_at BIGINT NOT NULL,
    at                BIGINT NOT NULL,
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    replayed_at       BIGINT NOT NULL DEFAULT 0,
    closed_at         BIGINT NOT NULL DEFAULT 0,
    actor             TEXT NOT NULL DEFAULT '',
    note              TEXT NOT NULL DEFAULT ''
);
CREATE INDEX dead_letters_status ON dead_letters (status, reason_class);
CREATE INDEX dead_letters_connector ON dead_letters (connector, status);
