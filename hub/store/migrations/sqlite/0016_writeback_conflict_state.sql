-- A conflicted write-back remembers the version it was based on (so the
-- writer knows when the hub has read the system's edit), how often it was
-- tried, and whether it now waits for a steward, with what each side holds.
ALTER TABLE writeback_conflicts ADD COLUMN seen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE writeback_conflicts ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE writeback_conflicts ADD COLUMN steward INTEGER NOT NULL DEFAULT 0;
ALTER TABLE writeback_conflicts ADD COLUMN detail TEXT NOT NULL DEFAULT '';
