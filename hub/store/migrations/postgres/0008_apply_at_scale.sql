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
-- index; a record's key keeps a sync's events together. Events recorded
-- before have rkey '' and are still found by event id.
ALTER TABLE applied_events ADD COLUMN rkey TEXT NOT NULL DEFAULT '';
ALTER TABLE applied_events DROP CONSTRAINT applied_events_pkey;
ALTER TABLE applied_events ADD PRIMARY KEY (rkey, event_id);
ALTER TABLE applied_events ALTER COLUMN rkey DROP DEFAULT;
