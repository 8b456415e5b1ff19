-- Only merged golden customers have a merged_into; every active one had a
-- NULL entry in goldens_merged_into, written with it and never read. (On
-- SQLite those entries also misled the planner; see that migration.)
-- Every query of the index compares the column, which implies IS NOT NULL.
DROP INDEX goldens_merged_into;
CREATE INDEX goldens_merged_into ON goldens (merged_into) WHERE merged_into IS NOT NULL;
