// Package sqlconn is the built-in "sql" source connector: it reads tables or
// custom queries from PostgreSQL (pgx), MySQL/MariaDB and SQLite (modernc).
//
// Each entity is read by keyset pagination over (cursor, key), or over key
// alone when no cursor column is configured, so a first run is a paged
// snapshot and later runs pull only changed rows. Rows that share a cursor
// value are ordered by key, so none is skipped or repeated across pages. The
// position carries the last (cursor, key) per entity, so a restart resumes
// mid-snapshot. Values are mapped without loss: decimals as strings,
// timestamps as RFC 3339 in the configured zone, binary as base64, NULL as
// null.
//
// change_detection: hash re-reads tables without a change column and
// publishes what changed; change_detection: logical (PostgreSQL, pgcdc.go)
// follows a logical replication slot after a snapshot consistent with it.
// Inspect (inspect.go) reads a live database's catalog for `crmhub
// connectors inspect`.
package sqlconn
