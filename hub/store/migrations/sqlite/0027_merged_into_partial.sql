-- Only merged golden customers have a merged_into; every active one had a
-- NULL entry in goldens_merged_into. On SQLite those entries were also
-- one huge group in the index's statistics (ANALYZE counts NULLs as one
-- value), which made `merged_into IN (...)` look like most of the table
-- and the planner scan every golden customer instead (stats.go). Every
-- query of the index compares the column, which implies IS NOT NULL.
DROP INDEX goldens_merged_into;
CREATE INDEX goldens_merged_into ON goldens (merged_into) WHERE merged_into IS NOT NULL;
