-- A dead letter is keyed by what it is (source record, version, reason
-- class, content), not only by where it sat on the topic: one published
-- again after a crash (a new offset) is the same entry, counted once.
ALTER TABLE dead_letters ADD COLUMN dkey TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX dead_letters_dkey ON dead_letters (dkey) WHERE dkey <> '';
