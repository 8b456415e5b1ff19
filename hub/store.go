package hub

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors callers test for.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrInvalid marks bad input: an event that cannot be applied, a
	// search filter that cannot be read.
	ErrInvalid = errors.New("invalid input")
	// ErrUnavailable marks a store failure that is not about the data: the
	// database is read-only, full, locked, restarting or unreachable. The
	// applier pauses and retries instead of dead-lettering good records.
	ErrUnavailable = errors.New("store unavailable")
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

	// FindCustomerByID returns a golden customer with its sources and the
	// first page (newest first) of its orders, payments and service cases,
	// following merges to the survivor; FindCustomer360 reads further
	// pages. ErrNotFound if none.
	FindCustomerByID(ctx context.Context, id string) (*CustomerView, error)
	// FindCustomers searches golden customers.
	FindCustomers(ctx context.Context, f CustomerFilter) ([]CustomerView, error)
	// FindCustomer360 returns a golden customer as FindCustomerByID does
	// (following merges: the ID then names the survivor), with one page of
	// each linked list q asks for and, for those lists, the open balance
	// and the last contact. A page costs the same however many records
	// the customer has. ErrNotFound if none.
	FindCustomer360(ctx context.Context, id string, q LinkQuery) (*Customer360, error)
	// FindCustomers360 searches golden customers as FindCustomers does,
	// with one page of each linked list q asks for per customer.
	FindCustomers360(ctx context.Context, f CustomerFilter, q LinkQuery) ([]Customer360, error)
	// FindCustomerSummaries searches as FindCustomers does and returns
	// each golden customer's summary only (a search page that lists many
	// customers): kind, names, the first e-mail, phone and address
	// (postal code, city, country), created and updated times; no
	// sources, lineage or linked records. A search
	// by name alone is ordered by the name each customer was found by
	// (GoldenCustomer.FoundBy), then id, and continues after
	// (AfterName, After): it reads only the page, however many match.
	FindCustomerSummaries(ctx context.Context, f CustomerFilter) ([]GoldenCustomer, error)

	// Counts reports sizes for metrics and tests.
	Counts(ctx context.Context) (Counts, error)

	Ping(ctx context.Context) error
	Close() error
}

// LinkCursor is where a page of linked records ended: the sort key of its
// last record. Orders, payments and service cases are listed newest first
// (order date, payment date, case opening time), ties by record key, so a
// page boundary stays put while records arrive.
type LinkCursor struct {
	At  string // the record's date as the list sorts it; "" when it has none
	Key string // the record key, system/source_entity/source_id
}

// LinkPage asks for one page of one linked list.
type LinkPage struct {
	Limit int         // records per page; the store caps it and defaults 0
	After *LinkCursor // nil: the first page
}

// LinkQuery says which linked lists of a customer to read, a page each.
// A nil list is not read, nor counted in the open balance (payments) or
// the last contact.
type LinkQuery struct {
	Orders, Payments, Cases *LinkPage
}

// Customer360 is a golden customer with one page of each linked list a
// LinkQuery asked for. Lists not asked for are nil; asked for, they are
// non-nil, and their Next cursor nil on the last page.
type Customer360 struct {
	GoldenCustomer
	Orders       []Order
	OrdersNext   *LinkCursor
	Payments     []Payment
	PaymentsNext *LinkCursor
	Cases        []ServiceCase
	CasesNext    *LinkCursor
	// OpenBalance is over all the customer's payments, not the page:
	// invoices minus payments and credit notes, per currency; nil when
	// payments were not asked for or there are none.
	OpenBalance []Money
	// LastContact is the newest order date, payment date or case opening
	// or closing time among the lists asked for (a date counts as
	// midnight UTC); nil if there is none.
	LastContact *time.Time
}
