// Package pipeline is crmhub's runtime between the stages: a Source runner
// per connector instance (read a batch, map it, publish canonical records and
// dead letters to Kafka, then checkpoint the position and ack the source) and
// an Applier (consume the canonical topics in a group, apply them to the
// store, commit offsets only after the store committed). Both are written
// against small interfaces, so each stage can be tested with the real thing
// on either side. A runner reports its progress (Progress): a log line at a
// steady interval while it reads its backlog, one when it has caught up, and
// the status behind GET /v1/connectors.
package pipeline
