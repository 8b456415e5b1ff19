-- Value facts (hub/value facts.go): per live order, payment or service
-- case, the compact text of what the value figures read of it, keyed by
-- the customer it names first, so a customer's facts are one range of the
-- table and recomputing its figures reads them instead of decoding its
-- records' JSON. Written in the apply transaction with the record; a
-- merge or unmerge moves no fact (facts name source customers, which
-- goldens hold).
CREATE TABLE value_facts (
    ref_system TEXT NOT NULL,
    ref_id     TEXT NOT NULL,
    rkey       TEXT NOT NULL,
    fact       TEXT NOT NULL,
    PRIMARY KEY (ref_system, ref_id, rkey)
) WITHOUT ROWID;
-- complete = 0: facts may be missing or stale (a store holding linked
-- records from before this migration, or records applied with the figures
-- off); the next recompute rebuilds them all from the records first
-- (store/value_facts.go). A store without linked records starts complete.
CREATE TABLE value_facts_state (
    id       INTEGER PRIMARY KEY,
    complete INTEGER NOT NULL
);
INSERT INTO value_facts_state (id, complete)
SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM records WHERE entity <> 'customer') THEN 0 ELSE 1 END;
