// Package writeback keeps each department's own system in sync with the
// golden customers: per target, a consumer group on the golden changes topic
// reverse-maps every golden state into the records that system already has
// (its source records of the golden customer), keeps only the fields the
// system owns (the target's allow-list), and writes them through a
// destination connector.
//
// Echo prevention is by content: the Ledger (a table of the hub's store,
// shared by every hub instance on it) keeps, per target record, a hash of
// each allow-listed field as crmhub last wrote it, found it in the system,
// or left the system's own edit in it. A record is written only when a
// field's golden value changed since then, and then (unless the target
// writes whole records, as an export does) with only those fields, so a
// field the system holds its own edit in is never written as a side effect
// of another field's change; a field the system's own record already holds
// is not written either (an edit made in that very system, or by finance
// into finance's export, never goes back to it). When the system then
// reports the row crmhub wrote, the golden values crmhub wrote do not move,
// so no new write follows and the loop ends. This does not mean that a
// read-back changes no golden value: with a union field (e-mails), the
// value the system held before is no longer reported by it, and drops out
// of the golden customer unless another system holds it.
//
// Rows crmhub writes must be read back. A conditional destination sets the
// version column from the target database's clock, never from a source's
// business time, and returns what it set (WriteResult Meta last_written),
// which the ledger keeps: a row written after a restart, or while a source
// sent a time from the future, still sorts after the system reader's
// position, and crmhub's own write is still recognised as its own.
//
// A lost update is the other race: someone edits the record in the system
// after the hub last read it and before the write-back of a golden value
// reaches it. Each record written carries the version of the target record
// the hub last read (Meta seen_version: the updated-at of the system's own
// source record) and the touch fields of crmhub's own last write to it
// (Meta last_written, from the ledger). A destination that writes
// conditionally (the sql destination's version_column) writes only a row
// not changed since then and answers a result starting with sdk.ConflictPrefix
// otherwise. A conflict is counted (skipped, reason conflict) and logged,
// not dead-lettered, and not recorded in the ledger; the ConflictLog (the
// store's table writeback_conflicts) keeps the version the refused write
// was based on. The system's edit comes in through its source; once the hub
// has read it, the target's policy (Target.OnConflict) decides each field
// the edit made differ from the golden value:
//
//   - system (the default): the person's edit stays when the golden customer
//     still holds that value (a union field kept it, so writing the golden
//     choice would drop it everywhere) or when it is newer than the source
//     edit the golden value comes from; otherwise the golden value is
//     written. A field kept is recorded as decided: it is written again
//     only when its golden value changes again.
//   - hub: the golden value is written.
//   - steward: neither; the conflict becomes a steward task with both values.
//
// Until the hub has read the edit the writer retries the record from its
// current state in the store (Writer.States), backing off from 0.5 s to
// 30 s; after Target.MaxConflictTries tries (default 8, about two minutes)
// it stops and the conflict is a steward task instead of an endless retry.
// A restarted writer retries the waiting conflicts at once.
package writeback
