// Package store implements hub.Store on database/sql, for SQLite
// (modernc.org/sqlite, driver "sqlite") and PostgreSQL (pgx stdlib, driver
// "pgx"), with the same SQL wherever the two agree. Migrations are embedded
// and applied at Open.
//
// Apply runs a batch of canonical events in one transaction: duplicates (by
// event id) and older versions of a source record are skipped, so the final
// state does not depend on arrival order. Customer records go through
// hub/identity: their match keys are stored, the connected records are
// re-clustered and the golden customers of the affected clusters rewritten.
// Orders, payments and service cases are stored with their customer
// reference and attach to a golden customer at read time through the
// customer source record they name; until it arrives they are parked.
package store
