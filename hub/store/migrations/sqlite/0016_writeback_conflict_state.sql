-- A conflicted write-back remembers the version it was based on (so the
-- writer knows when the hub has read the system's edit), how often it was
-- tried, and whether it now waits for a steward, with what each side holds.
ALTER TABLE writeback_conflicts ADD COLUMN seen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE writeback_conflicts ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE writeback_conflicts ADD COLUMN steward INTEGER NOT NULL DEFAULT 0;
ALTER TABLE writeback_conflicts ADD COLUMN detail TEXT NOT NULL DEFAULT '';
-- Echoes: when crmhub writes a record into a system, the time it set (the
-- target's clock) and the golden time it wrote under, so that reading the
-- row back does not make that system the newest source of every field.
ALTER TABLE writeback_ledger ADD COLUMN system TEXT NOT NULL DEFAULT '';
ALTER TABLE writeback_ledger ADD COLUMN entity TEXT NOT NULL DEFAULT '';
ALTER TABLE writeback_ledger ADD COLUMN written_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE writeback_ledger ADD COLUMN business_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX writeback_ledger_echo ON writeback_ledger (system, entity, record_id) WHERE written_at <> 0;
