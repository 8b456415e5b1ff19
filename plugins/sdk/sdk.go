package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/crmhub/hub"
)

// Operation says what happened to a source record.
type Operation string

// The operations are the canonical envelope's (hub.OpUpsert, hub.OpDelete),
// typed for the connector contract: one set of names, so a record's
// operation crosses from a connector into the envelope as it is.
const (
	OpUpsert Operation = hub.OpUpsert
	OpDelete Operation = hub.OpDelete
)

// Position is an opaque marker owned by the connector: a cursor value, a file
// and line, a page token. The host stores it only after the records up to it
// are durable, and hands it back to Open after a restart.
type Position []byte

// Record is one record read from a back-office system.
type Record struct {
	// Entity is the source entity name as the system calls it ("customers",
	// "invoices"); together with the connector's system it selects a mapping.
	Entity string
	// ID is the record's id in the source system, unique within Entity.
	ID string
	// UpdatedAt is when the source last changed the record; zero if the
	// source cannot tell.
	UpdatedAt time.Time
	// Op is upsert or delete. A delete may carry an empty Payload.
	Op Operation
	// Payload is the raw record as a JSON object, values as the source
	// gave them (decimals and timestamps as strings, NULL as null).
	Payload []byte
	// Position is where the source stands after this record.
	Position Position
	// Error, when set, marks a record the connector could not read (a CSV
	// line with the wrong column count, undecodable bytes). The host sends
	// it to the dead-letter topic with this reason; Payload then holds what
	// could be salvaged and Meta says where it came from.
	Error string
	// Meta carries where the record came from (file, line, url) for error
	// reports. Never secrets.
	Meta map[string]string
}

// ErrNotSupported is returned by optional methods a connector does not
// implement. It wraps the standard errors.ErrUnsupported, which is what the
// hub tests for beyond the connector boundary (one sentinel, no second
// name in the hub).
var ErrNotSupported = fmt.Errorf("not supported by this connector: %w", errors.ErrUnsupported)

// Source reads records from a back-office system.
//
// The host calls Configure once, then Open, then Read repeatedly from one
// goroutine, while Ack may be called concurrently from another goroutine.
// Teardown is called last, also after a failed Open.
type Source interface {
	// Configure receives the instance's settings after the host applied
	// defaults and validated them against Spec().Params. It should check
	// what the declaration cannot express and return every problem at once
	// (errors.Join), without touching the network.
	Configure(ctx context.Context, cfg Config) error
	// Open connects and positions the source. pos is nil on a first run,
	// else the last position the host acknowledged.
	Open(ctx context.Context, pos Position) error
	// Read returns the next records, at most max. When nothing is new it
	// returns an empty slice and a nil error, promptly (within about a
	// second); the host then polls again after its poll interval. Read is
	// how backpressure works: the host asks for the next batch only when
	// it has made room for it.
	Read(ctx context.Context, max int) ([]Record, error)
	// Ack tells the source that every record up to and including pos is
	// durable in the hub. A source may then release or archive what it
	// holds (move a finished file, commit a server-side cursor).
	Ack(ctx context.Context, pos Position) error
	// Teardown releases everything. It must be safe to call at any time.
	Teardown(ctx context.Context) error
}

// WriteResult is the outcome of writing one record to a destination.
type WriteResult struct {
	// ID is the record's id in the target system after the write (it may
	// be new for an insert).
	ID string
	// Error is empty on success.
	Error string
	// Meta tells the hub what the destination set itself; a conditional
	// destination returns MetaLastWritten with the version it wrote (taken
	// from the target's clock), so the hub knows its own write when the
	// row comes back. Nil when there is nothing to tell.
	Meta map[string]string
}

// Destination writes records into a back-office system (write-back).
// Calls are sequential from one goroutine.
type Destination interface {
	Configure(ctx context.Context, cfg Config) error
	Open(ctx context.Context) error
	// Write writes a batch and returns one result per record, in order. A
	// non-nil error means the whole batch failed and may be retried.
	Write(ctx context.Context, records []Record) ([]WriteResult, error)
	Teardown(ctx context.Context) error
}

// UnimplementedSource can be embedded so that a source keeps compiling when
// the interface grows.
type UnimplementedSource struct{}

func (UnimplementedSource) Ack(context.Context, Position) error { return nil }
func (UnimplementedSource) Teardown(context.Context) error      { return nil }

// UnimplementedDestination can be embedded so that a destination keeps
// compiling when the interface grows.
type UnimplementedDestination struct{}

func (UnimplementedDestination) Teardown(context.Context) error { return nil }

// Connector is what a connector package exports: its declaration and
// constructors. A connector that only reads leaves NewDestination nil.
type Connector struct {
	Spec           Spec
	NewSource      func() Source
	NewDestination func() Destination
}
