-- Orders, payments and service cases of a customer are read a page at a
-- time, newest first. link_at is the date a list sorts by: the order
-- date, the payment date, the case's opening time in UTC with
-- milliseconds (fixed width, so text order is time order whatever offset
-- the source sent), '' when the record has none. The database derives it
-- from data, so writers need not know it exists; VIRTUAL costs nothing
-- but the index entry.
ALTER TABLE records ADD COLUMN link_at TEXT GENERATED ALWAYS AS (CASE entity
  WHEN 'order' THEN COALESCE(json_extract(data, '$.order_date'), '')
  WHEN 'payment' THEN COALESCE(json_extract(data, '$.date'), '')
  WHEN 'service_case' THEN COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', json_extract(data, '$.opened_at')), '')
END) VIRTUAL;

-- One customer reference's records of one entity in page order: a page
-- is an index range seek, however many records the customer has. It
-- starts with (ref_system, ref_id), so it serves every lookup records_ref
-- served, and replaces it rather than adding a second index to write.
DROP INDEX records_ref;
CREATE INDEX records_linked ON records (ref_system, ref_id, entity, deleted, link_at DESC, rkey);
