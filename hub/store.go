package hub

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors callers test for.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrInvalid marks bad input: an event that cannot be applied, a
	// search filter that cannot be read.
	ErrInvalid = errors.New("invalid input")
)

// ApplyError names the event an Apply failed on (the whole batch was
// rolled back), so the caller can dead-letter that one and retry the rest.
type ApplyError struct {
	Index        int // position in the batch
	EventID      string
	System       string
	SourceEntity string
	SourceID     string
	Field        string // JSON path of the offending field, if known
	Err          error
}

func (e *ApplyError) Error() string {
	s := fmt.Sprintf("apply event %d (%s) %s/%s/%s", e.Index, e.EventID, e.System, e.SourceEntity, e.SourceID)
	if e.Field != "" {
		s += " field " + e.Field
	}
	return s + ": " + e.Err.Error()
}

func (e *ApplyError) Unwrap() error { return e.Err }

// ApplyStats counts what one Apply did.
type ApplyStats struct {
	Applied       int // events written
	Skipped       int // events already applied (same event id) or older than what is stored
	GoldenCreated int
	GoldenMerged  int
}

// Store is the hub's durable state: source records, golden customers, the
// cross-reference of source ids, linked orders/payments/cases, and connector
// positions. Implementations: hub/store (SQLite and PostgreSQL).
type Store interface {
	// Apply applies canonical events in order, in one transaction, with
	// identity resolution. It is idempotent by EventID: replaying the same
	// events changes nothing.
	Apply(ctx context.Context, events []Envelope) (ApplyStats, error)

	// Position returns the last durable position of a connector instance,
	// nil if none.
	Position(ctx context.Context, connector string) ([]byte, error)
	// SavePosition records where a connector instance stands; called only
	// after the records up to pos are acknowledged by Kafka.
	SavePosition(ctx context.Context, connector string, pos []byte) error

	// FindCustomerByID returns a golden customer with its sources and linked
	// records, following merges to the survivor. ErrNotFound if none.
	FindCustomerByID(ctx context.Context, id string) (*CustomerView, error)
	// FindCustomers searches golden customers.
	FindCustomers(ctx context.Context, f CustomerFilter) ([]CustomerView, error)

	// Counts reports sizes for metrics and tests.
	Counts(ctx context.Context) (Counts, error)

	Ping(ctx context.Context) error
	Close() error
}
