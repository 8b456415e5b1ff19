package hub

import (
	"context"
	"time"
)

// ReconcileResult is the latest comparison of one source entity with what
// the hub holds of it.
type ReconcileResult struct {
	Connector string `json:"connector"`
	System    string `json:"system"`
	Entity    string `json:"entity"` // the source's entity name
	// SourceRecords are the live records the source holds; HubRecords the
	// live records the hub holds for (system, entity).
	SourceRecords int64 `json:"source_records"`
	HubRecords    int64 `json:"hub_records"`
	// Drift is SourceRecords minus HubRecords: positive when the hub lacks
	// records, negative when it holds records the source deleted.
	Drift int64 `json:"drift"`
	// DeadLettersOpen are records of the entity waiting in the dead-letter
	// queue: part of the explanation of a positive drift.
	DeadLettersOpen int64 `json:"dead_letters_open"`
	// MovedUnreadCount counts the source's live records whose version is
	// newer than the one the hub last read while their place in the read
	// order lies behind the source's position, so polling never reads
	// them (a write with an old time); MovedUnread names up to 100 of them.
	// Zero for a source that cannot list versions.
	MovedUnreadCount int64    `json:"moved_unread_count"`
	MovedUnread      []string `json:"moved_unread,omitempty"`
	// Reread is set when the round asked the source to read them again.
	Reread bool      `json:"reread,omitempty"`
	At     time.Time `json:"at"`
	// Error says why this round could not compare (the counts are then
	// those of the last good round, zero if none).
	Error string `json:"error,omitempty"`
}

// MissingIDs lists where a source entity and the hub disagree.
type MissingIDs struct {
	Connector string `json:"connector"`
	Entity    string `json:"entity"`
	// MissingInHub: live in the source, not live in the hub.
	MissingInHub []string `json:"missing_in_hub"`
	// GoneFromSource: live in the hub, no longer in the source.
	GoneFromSource []string `json:"gone_from_source"`
	// Truncated is set when either list was cut at the limit.
	Truncated bool `json:"truncated"`
	// SourceKeys and HubKeys are how many ids each side listed.
	SourceKeys int64 `json:"source_keys"`
	HubKeys    int64 `json:"hub_keys"`
}

// Reconciliation serves the reconciliation results and the missing-id
// listing. ErrNotFound for a connector or entity that is not reconciled,
// errors.ErrUnsupported when the source cannot list its keys.
type Reconciliation interface {
	ReconcileResults(ctx context.Context) ([]ReconcileResult, error)
	MissingIDs(ctx context.Context, connector, entity string, limit int) (*MissingIDs, error)
}
