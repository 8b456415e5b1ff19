// Package writeback keeps each department's own system in sync with the
// golden customers: per target, a consumer group on the golden changes topic
// reverse-maps every golden state into the records that system already has
// (its source records of the golden customer), keeps only the fields the
// system owns (the target's allow-list), and writes them through a
// destination connector.
//
// Echo prevention is by content: the Ledger keeps, per target record, a
// hash of the fields last written; a state whose fields hash the same is
// not written again, and neither is one the system's own current record
// already holds (an edit made in that very system is never written back to
// it). When the system then reports the row crmhub wrote, the golden
// customer's values do not change, so the store publishes no new change and
// the loop ends. Conflicting edits (two systems changed one field) are
// decided by survivorship in the store before the state reaches this
// package; the golden lineage names the winner.
package writeback
