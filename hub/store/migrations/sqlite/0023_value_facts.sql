-- Value facts (hub/value facts.go): per live order, payment or service
-- case, the compact text of what the customer value figures read of it,
-- written with the record's row in the apply transaction (a column of the
-- row costs no B-tree write of its own, a table of facts did: 6 us per
-- record applied). A recompute reads a customer's facts through
-- records_linked instead of JSON-decoding its records. NULL where no fact
-- was written (records from before this migration, or applied with the
-- figures off): the recompute derives it from data then and writes it
-- back (store/value_facts.go).
ALTER TABLE records ADD COLUMN value_fact TEXT;
