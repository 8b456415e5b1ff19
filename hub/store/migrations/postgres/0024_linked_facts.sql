-- SQLite only (0024 there puts the value facts into records_linked): a
-- PostgreSQL b-tree entry is limited to about 2.7 kB, which the fact of an
-- order with many lines exceeds, and its read of a customer's rows is no
-- row-by-row lookup in the same way.
SELECT 1;
