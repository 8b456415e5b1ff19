package sdk

// The write-back contract between the hub and a Destination that writes
// conditionally (the sql destination's version_column). Other destinations
// ignore the Meta keys.
const (
	// MetaSeenVersion is the Record.Meta key holding the version (RFC 3339
	// updated-at) of the target record as the hub last read it from the
	// system. Absent when the hub never read the record (a create).
	MetaSeenVersion = "seen_version"
	// MetaLastWritten is the Record.Meta key holding the JSON object of the
	// fields crmhub's own last write to this record set: a row still at
	// that version was last changed by crmhub, not by someone in the
	// system.
	MetaLastWritten = "last_written"
	// MetaWrittenAt is the WriteResult.Meta key of the instant (RFC 3339)
	// a destination wrote as the record's version: the version the
	// system's source will report for it, by which the hub knows the row
	// it reads back as its own write.
	MetaWrittenAt = "written_at"
)

// ConflictPrefix starts the WriteResult.Error of a record a destination did
// not write because it changed in the system since the version the hub
// saw ("conflict: row K1 changed in customers since ..."). The hub neither
// writes nor dead-letters such a record: the system's edit reaches the hub
// through its source, survivorship decides, and the state that follows is
// written.
const ConflictPrefix = "conflict:"
