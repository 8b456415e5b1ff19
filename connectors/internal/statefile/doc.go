// Package statefile keeps a source's per-record change-detection state (a
// 64-bit value per record key: a content hash or a change time) in
// versioned files under the source's state_dir, so a restart resumes
// without publishing every record again.
//
// The source's position names the version its records are covered by, so
// the state a restart loads describes exactly what the hub acknowledged: a
// source writes version n+1 when a pass that published something ends and
// hands it out only with a record after that pass's last one. A crash
// before that record is acknowledged restarts from version n, which
// republishes the pass's changes (no-ops in the hub) rather than losing
// them. A version's log (log.go) lets a position name the state at any
// record, not only at a pass's end: the rest source appends each page's
// changes to it. Used by the sql source (change_detection: hash; bases
// only) and the rest source (fingerprints of emitted records).
//
// Why files and not the position: the position travels with every record
// (and over gRPC for a plugin), so it must stay small; the state of a
// million records is megabytes.
package statefile
