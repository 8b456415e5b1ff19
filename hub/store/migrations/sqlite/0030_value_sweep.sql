-- The first fill of the value figures (value_sweep.go): a store created
-- empty computes its customers' figures in one sweep over the active
-- goldens in id order, once its first load pauses, instead of marking
-- every customer each batch touches (value_dirty) and recomputing them
-- as the marks settle. The row exists until the sweep has passed the
-- last golden; after is the last golden id swept ('' before the sweep
-- starts: until then apply writes no marks). Only a store without
-- goldens gets it: one in use keeps marking.
CREATE TABLE value_sweep (
    id    INTEGER PRIMARY KEY,
    after TEXT NOT NULL
);
INSERT INTO value_sweep (id, after) SELECT 1, '' WHERE NOT EXISTS (SELECT 1 FROM goldens);
