// Package grace lets the bookkeeping of work already done (dead letters,
// ledger entries, offsets) finish for a short while after the context of
// the work was cancelled: the pipeline and the write-back use it on their
// way out.
package grace
