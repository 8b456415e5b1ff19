-- Orders, payments and service cases of a customer are read a page at a
-- time, newest first. link_at is the date a list sorts by: the order
-- date, the payment date, the case's opening time in UTC with
-- milliseconds (fixed width, so text order is time order whatever offset
-- the source sent), '' when the record has none. The database derives it
-- from data, so writers need not know it exists.
--
-- A text to timestamptz cast is only STABLE (a time without offset reads
-- in the session's TimeZone), so a generated column cannot call it
-- directly. Canonical timestamps are RFC 3339 and always carry an offset
-- (Apply decodes them as such), so for them the result does not depend on
-- the session: declaring the wrapper IMMUTABLE is true for what it sees.
CREATE FUNCTION crmhub_utc_millis(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT to_char((t::timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

ALTER TABLE records ADD COLUMN link_at TEXT COLLATE "C" GENERATED ALWAYS AS (CASE entity
  WHEN 'order' THEN COALESCE(data::jsonb ->> 'order_date', '')
  WHEN 'payment' THEN COALESCE(data::jsonb ->> 'date', '')
  WHEN 'service_case' THEN COALESCE(crmhub_utc_millis(data::jsonb ->> 'opened_at'), '')
END) STORED;

-- One customer reference's records of one entity in page order: a page
-- is an index range seek, however many records the customer has. It
-- starts with (ref_system, ref_id), so it serves every lookup records_ref
-- served, and replaces it rather than adding a second index to write.
DROP INDEX records_ref;
CREATE INDEX records_linked ON records (ref_system, ref_id, entity, deleted, link_at DESC, rkey);
