// Package writeback keeps each department's own system in sync with the
// golden customers: per target, a consumer group on the golden changes topic
// reverse-maps every golden state into the records that system already has
// (its source records of the golden customer), keeps only the fields the
// system owns (the target's allow-list), and writes them through a
// destination connector.
//
// Echo prevention is by content: the Ledger (a table of the hub's store,
// shared by every hub instance on it) keeps, per target record, a hash of
// the fields last written; a state whose fields hash the same is
// not written again, and neither is one the system's own current record
// already holds (an edit made in that very system is never written back to
// it). When the system then reports the row crmhub wrote, the golden
// customer's values do not change, so the store publishes no new change and
// the loop ends. Conflicting edits (two systems changed one field) are
// decided by survivorship in the store before the state reaches this
// package; the golden lineage names the winner.
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
// not dead-lettered, and not recorded in the ledger: the system's edit
// comes in through its source, survivorship decides between it and the
// golden value, and the state that follows is written (or found in the
// system already). No new golden state need follow: an edit older than the
// value that wins (another system changed the field later) leaves the
// golden customer as it was. So the writer retries a conflicted customer
// from its current state in the store (Writer.States), backing off from
// 0.5 s to 30 s, until the write goes through, the system is found holding
// the values, or a newer golden state replaces it. A Ledger that is also a
// ConflictLog (the store's, table writeback_conflicts) keeps the waiting
// ids, so a restarted writer retries them at once.
package writeback
