package hub

import (
	"context"
	"encoding/json"
	"time"
)

// Review is a candidate match waiting for a data steward: two source
// records (keys system/entity/id) the fuzzy matcher found similar, but not
// similar enough to merge on its own.
type Review struct {
	A       string  `json:"a"`
	B       string  `json:"b"`
	GoldenA string  `json:"golden_a"`
	GoldenB string  `json:"golden_b"`
	Score   float64 `json:"score"`
	// RecordA and RecordB are the two source records as the matcher
	// compared them; Evidence is how each comparison weighed.
	RecordA  *Customer      `json:"record_a,omitempty"`
	RecordB  *Customer      `json:"record_b,omitempty"`
	Evidence *MatchEvidence `json:"evidence,omitempty"`
}

// MatchEvidence explains a fuzzy decision on two source records: the
// match probability and, for the Fellegi-Sunter model, each comparison's
// part of the match weight (the waterfall: prior weight plus the terms).
type MatchEvidence struct {
	A           string      `json:"a"`
	B           string      `json:"b"`
	Method      string      `json:"method"` // fellegi_sunter or weighted
	Probability float64     `json:"probability"`
	PriorWeight float64     `json:"prior_weight,omitempty"`
	Weight      float64     `json:"weight,omitempty"`
	Terms       []MatchTerm `json:"terms,omitempty"`
	// Hold says why the pair may not merge on its own, whatever its
	// probability.
	Hold string `json:"hold,omitempty"`
	// Auto: the pair merges on its own (probability at or above the
	// auto-merge threshold, nothing holding it).
	Auto bool `json:"auto"`
}

// MatchTerm is one comparison of a MatchEvidence: its level (exact,
// close, phonetic, ..., else) and match weight in bits.
type MatchTerm struct {
	Comparison string  `json:"comparison"`
	Level      string  `json:"level"`
	Weight     float64 `json:"weight"`
	Note       string  `json:"note,omitempty"`
}

// AuditEntry is one steward action on a golden customer.
type AuditEntry struct {
	ID     string          `json:"id"`
	At     time.Time       `json:"at"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"` // force_merge, unmerge, review_accept, review_reject, review_defer
	Reason string          `json:"reason"`
	Detail json.RawMessage `json:"detail"`
}

// Steward is what a data steward may do to identity resolution. Every
// action is stored as a rule on source records, so it survives
// re-processing, and is audited. Implementations: hub/store.
type Steward interface {
	// ForceMerge makes two golden customers one and returns the survivor.
	ForceMerge(ctx context.Context, a, b, actor, reason string) (string, error)
	// Unmerge splits one source record out of a golden customer and
	// returns the record's new golden id.
	Unmerge(ctx context.Context, golden, recordKey, actor, reason string) (string, error)
	// Reviews lists candidate matches after the cursor pair (afterA, afterB).
	Reviews(ctx context.Context, afterA, afterB string, limit int) ([]Review, error)
	// DecideReview accepts (merge) or rejects (never merge) a candidate.
	DecideReview(ctx context.Context, a, b string, accept bool, actor, reason string) error
	// DeferReview leaves a note on a candidate without deciding it.
	DeferReview(ctx context.Context, a, b, actor, note string) error
	// Audit lists the actions that touched a golden customer, oldest first.
	Audit(ctx context.Context, golden string) ([]AuditEntry, error)
}

// Golden change operations.
const (
	ChangeUpsert  = "upsert"  // the golden customer's state changed; fetch it by id
	ChangeMerged  = "merged"  // the id was merged into Survivor
	ChangeRetired = "retired" // no source records are left
	// ChangeSources: a source record of the customer changed and now
	// holds values that lost to the golden customer's (an older edit read
	// late, a lower priority); the golden values did not change. Published
	// with the state like an upsert, so write-back brings that system back
	// in line; consumers that only want value changes may skip it.
	ChangeSources = "sources"
	// ChangeValue: the customer's lifecycle stage, RFM segment or ABC
	// class moved (docs/value.md, *On the golden change stream*); the
	// golden values did not change. Published with the state and its value
	// block; write-back skips it.
	ChangeValue = "value"
)

// GoldenChange is one entry of the durable, ordered feed of golden-customer
// changes, written in the same transaction as the change itself (an
// outbox): a poller or the Kafka publisher reads it by Seq.
type GoldenChange struct {
	Seq      int64     `json:"seq"`
	GoldenID string    `json:"id"`
	Op       string    `json:"op"`
	Survivor string    `json:"survivor,omitempty"`
	At       time.Time `json:"at"`
}

// ChangeFeed reads the golden change feed. Implementations: hub/store.
type ChangeFeed interface {
	// Changes returns up to limit changes with Seq > after, in Seq order.
	Changes(ctx context.Context, after int64, limit int) ([]GoldenChange, error)
}
