-- The first fill of the value figures (value_sweep.go): a store created
-- empty computes its customers' figures in one sweep over the active
-- goldens in id order, once its first load pauses, instead of marking
-- every customer each batch touches (value_dirty) and recomputing them
-- as the marks settle. The row exists until the sweep has passed the
-- last golden; after is the last golden id swept ('' before the sweep
-- starts: until then apply writes no marks, and stamps first_at and
-- last_at, the wall time (unix ms) of the first and the last batch it
-- applied so, which say when the sweep is due, to every hub sharing the
-- store and after a restart). Only a store without goldens gets it: one
-- in use keeps marking.
CREATE TABLE value_sweep (
    id       INTEGER PRIMARY KEY,
    after    TEXT NOT NULL,
    first_at BIGINT NOT NULL DEFAULT 0,
    last_at  BIGINT NOT NULL DEFAULT 0
);
INSERT INTO value_sweep (id, after) SELECT 1, '' WHERE NOT EXISTS (SELECT 1 FROM goldens);
