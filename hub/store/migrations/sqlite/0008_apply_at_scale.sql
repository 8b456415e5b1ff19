-- A counter every Apply transaction increments. An instance that finds it
-- one above the value its own last commit left knows nobody else wrote in
-- between, and trusts its cache of parsed records without re-reading
-- their versions.
CREATE TABLE write_epoch (
    id    INTEGER PRIMARY KEY,
    epoch BIGINT NOT NULL
);
INSERT INTO write_epoch (id, epoch) VALUES (1, 0);

-- Applied events keyed by their source record first: event ids are
-- hashes, so a batch's 500 inserts landed on 500 random pages of a large
-- b-tree, a quarter of the pages a batch wrote; a record's key keeps a
-- sync's events together. Events recorded before have rkey '' and are
-- still found by event id.
CREATE TABLE applied_events_new (
    rkey     TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (rkey, event_id)
) WITHOUT ROWID;
INSERT INTO applied_events_new (rkey, event_id) SELECT '', event_id FROM applied_events;
DROP TABLE applied_events;
ALTER TABLE applied_events_new RENAME TO applied_events;
