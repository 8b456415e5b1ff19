package hub

import "time"

// WritebackConflict is a golden customer whose write-back to a target was
// refused because someone changed the target record in the system after
// the hub last read it. It waits for a retry, or, once the retries are
// spent or the target's policy says so, for a steward.
type WritebackConflict struct {
	Target   string `json:"target"`
	GoldenID string `json:"golden_id"`
	// Seen is the target record's version the refused write was based on:
	// the hub has read the system's edit once it holds a newer one.
	Seen  time.Time `json:"seen_version,omitzero"`
	Tries int       `json:"tries"`
	// Steward: no longer retried; a steward decides (Detail says what
	// each side holds).
	Steward bool      `json:"steward"`
	Detail  string    `json:"detail,omitempty"`
	At      time.Time `json:"at"`
}

// WriteEcho is what crmhub set when it wrote a record into a system: the
// version it wrote (the target's clock) and the golden time the values
// carry. When the system's source reports the record at exactly that
// version, the store takes it as crmhub's own write coming back: the
// record's values are applied, but it does not become newer than the
// sources the values came from.
type WriteEcho struct {
	System, Entity string
	WrittenAt      time.Time
	BusinessAt     time.Time
	// Golden is the golden customer (JSON) whose values were written. A
	// record at the written version whose fields hold neither their
	// previous values nor these was also edited by a person within the
	// same version (a timestamp column of whole seconds): not an echo.
	Golden []byte
	// Fields are the golden customer's fields the write set (those
	// holding a value sent): in crmhub's echo they hold the golden
	// value, not the one the record had before.
	Fields []string
}
