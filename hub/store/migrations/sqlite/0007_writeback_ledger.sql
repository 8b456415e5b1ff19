-- Write-back's ledger: per target and target record, the hash of the
-- allow-listed fields crmhub last wrote there (or found there), and the
-- touch fields its last write set (JSON object, '' when it found the values
-- and wrote nothing). In the store, so every hub instance on one database
-- recognises what another wrote and none echoes it back.
CREATE TABLE writeback_ledger (
    target    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    hash      TEXT NOT NULL,
    touch     TEXT NOT NULL DEFAULT '',
    at        BIGINT NOT NULL,
    PRIMARY KEY (target, record_id)
) WITHOUT ROWID;
