package hub

import (
	"context"
	"time"
	"unicode/utf8"
)

// Statuses of a dead letter the hub keeps for operations.
const (
	DeadLetterOpen     = "open"     // waiting for a fix
	DeadLetterReplayed = "replayed" // re-mapped with the current mapping and published (or dropped by it)
	DeadLetterResolved = "resolved" // closed by a steward without replay (a bad source line)
)

// DeadLetterEntry is one message of the dead-letter topic as the hub keeps
// it: the dead letter itself, where it was on the topic, and what became of
// it. Reason, ReasonClass and Field are those of the last attempt.
type DeadLetterEntry struct {
	// ID is "topic:partition:offset", so indexing the topic twice stores
	// each message once.
	ID string `json:"id"`
	DeadLetter
	Status     string    `json:"status"`
	Attempts   int       `json:"replay_attempts"`
	ReplayedAt time.Time `json:"replayed_at,omitzero"` // last replay attempt
	ClosedAt   time.Time `json:"closed_at,omitzero"`   // replayed or resolved
	Actor      string    `json:"actor,omitempty"`      // who replayed or resolved last
	Note       string    `json:"note,omitempty"`       // a steward's note on resolve
	// Seq orders entries by arrival; list cursors are built from it.
	Seq int64 `json:"-"`
	// RawText is Raw as text when it is valid UTF-8 (a CSV line a
	// connector could not read), so operators read it without decoding
	// base64; Raw stays for bytes that are not text.
	RawText string `json:"raw_text,omitempty"`
}

// WithRawText fills RawText from Raw when Raw is text and drops Raw then
// (the same bytes twice serve nobody).
func (e *DeadLetterEntry) WithRawText() *DeadLetterEntry {
	if len(e.Raw) > 0 && utf8.Valid(e.Raw) {
		e.RawText, e.Raw = string(e.Raw), nil
	}
	return e
}

// DeadLetterFilter selects dead letters; empty fields match everything.
type DeadLetterFilter struct {
	ReasonClass  string
	Connector    string
	Status       string
	Mapping      string
	SourceEntity string
	After        int64 // Seq of the last entry of the previous page
	Limit        int
}

// Replay outcomes.
const (
	ReplayPublished = "published" // the canonical record is on its topic
	ReplayDropped   = "dropped"   // the current mapping skips the record on purpose (drop_if)
	ReplayFailed    = "failed"    // it still fails; the entry stays open with the new reason
)

// ReplayResult is what one replay did.
type ReplayResult struct {
	ID          string `json:"id"`
	Outcome     string `json:"outcome"`
	Status      string `json:"status"`
	EventID     string `json:"event_id,omitempty"`
	Topic       string `json:"topic,omitempty"`
	ReasonClass string `json:"reason_class,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Field       string `json:"field,omitempty"`
}

// ReplaySummary is what a replay of every matching dead letter did.
type ReplaySummary struct {
	Matched       int `json:"matched"`
	Published     int `json:"published"`
	Dropped       int `json:"dropped"`
	Failed        int `json:"failed"`
	NotReplayable int `json:"not_replayable"` // source and apply errors: resolve them instead
	// Failures lists the first failures with their new reasons.
	Failures []ReplayResult `json:"failures,omitempty"`
}

// DeadLetters is what operations do with dead letters: find them, replay
// them through the current mappings, close the ones that cannot be
// replayed. Implementations: hub/pipeline.DeadLetterService.
type DeadLetters interface {
	ListDeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetterEntry, error)
	// FindDeadLetter returns one entry; ErrNotFound if none.
	FindDeadLetter(ctx context.Context, id string) (*DeadLetterEntry, error)
	// Replay re-maps one open entry; ErrConflict if it is not open or
	// cannot be re-mapped.
	Replay(ctx context.Context, id, actor string) (ReplayResult, error)
	// ReplayMatching replays every open entry the filter selects.
	ReplayMatching(ctx context.Context, f DeadLetterFilter, actor string) (ReplaySummary, error)
	// Resolve closes an open entry without replay.
	Resolve(ctx context.Context, id, actor, note string) (*DeadLetterEntry, error)
}
