package hub

import (
	"context"
	"time"
)

// SourceRecordRef names one source record that contributes to a golden customer.
type SourceRecordRef struct {
	System       string    `json:"system"`
	SourceEntity string    `json:"source_entity"`
	SourceID     string    `json:"source_id"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
	Customer     Customer  `json:"record"`
}

// GoldenCustomer is one real customer as the hub resolved it: a stable id,
// the surviving field values, and the source records behind it.
type GoldenCustomer struct {
	ID         string            `json:"id"`
	Customer   Customer          `json:"customer"`
	Sources    []SourceRecordRef `json:"sources"`
	MergedFrom []string          `json:"merged_from,omitempty"`
	// Lineage says, per golden field (JSON name), which source record(s)
	// and which survivorship rule produced it.
	Lineage   map[string]FieldLineage `json:"lineage,omitempty"`
	CreatedAt time.Time               `json:"created_at"`
	UpdatedAt time.Time               `json:"updated_at"`
	// Value is the compact value block the golden change stream carries
	// (GoldenStates fills it); the API shows the figures by scope instead.
	Value *ValueSummary `json:"-"`
	// FoundBy is, in the results of a name search
	// (FindCustomerSummaries with only Name), the normalized name the
	// customer was found by: such results are ordered by it, then by id.
	FoundBy string `json:"-"`
}

// CustomerView is a golden customer with its source records and one page
// of each linked list (orders, payments, service cases; the next pages come
// by cursor, see LinkQuery), the open balance over all its payments and its
// last contact: the customer 360 the API serves.
type CustomerView struct {
	GoldenCustomer
	Orders      []Order       `json:"orders"`
	Payments    []Payment     `json:"payments"`
	Cases       []ServiceCase `json:"service_cases"`
	OpenBalance []Money       `json:"open_balance,omitempty"` // one per currency
}

// CustomerFilter selects golden customers; empty fields do not filter.
type CustomerFilter struct {
	Email    string
	Phone    string // any format; normalized before the lookup
	Name     string // prefix of a name, case-insensitive
	TaxID    string
	System   string // with SourceID: the customer holding that source record
	SourceID string
	Limit    int
	After    string // cursor: golden id to continue after
	// AfterName continues a name search (see GoldenCustomer.FoundBy)
	// after (AfterName, After).
	AfterName string
}

// NameOnly reports a search by name prefix alone: its summaries are
// ordered by the name found (see FindCustomerSummaries).
func (f CustomerFilter) NameOnly() bool {
	return f.Name != "" && f.Email == "" && f.Phone == "" && f.TaxID == "" && f.System == "" && f.SourceID == ""
}

// Counts reports the store's sizes.
type Counts struct {
	GoldenCustomers int64 `json:"golden_customers"`
	SourceRecords   int64 `json:"source_records"` // source customer records
	Orders          int64 `json:"orders"`
	Payments        int64 `json:"payments"`
	Cases           int64 `json:"service_cases"`
	Parked          int64 `json:"parked"` // linked records whose customer has not arrived
	AppliedEvents   int64 `json:"applied_events"`
}

// FieldLineage is the origin of one golden field.
type FieldLineage struct {
	Rule    string   `json:"rule"`              // source_priority, most_recent, union, earliest
	Source  string   `json:"source,omitempty"`  // record key system/entity/id, single-valued fields
	Sources []string `json:"sources,omitempty"` // record keys, unioned fields
}

// GoldenState is the value of a message on the golden changes topic (the
// wire type of Topics.GoldenChanges, published by hub/pipeline.GoldenStream): the
// full state of one golden customer, not a diff, so a compacted topic holds
// the current state of every customer.
type GoldenState struct {
	ID        string            `json:"id"`
	Customer  Customer          `json:"customer"`
	Sources   []SourceRecordRef `json:"sources"`
	Merged    []string          `json:"merged_from,omitempty"`
	UpdatedAt time.Time         `json:"updated_at"`
	Seq       int64             `json:"seq"`
	// Bounded says the state was cut to fit the topic's message size
	// limit: "sources" (Sources left out; the customer is whole). Read
	// the whole state from the API (GET /v1/customers/{id}).
	Bounded string `json:"bounded,omitempty"`
	// Value is the customer's value block; absent while the figures are
	// off or not computed yet.
	Value *ValueSummary `json:"value,omitempty"`
}

// ValueSummary is the compact part of a golden customer's value figures
// (hub/value, docs/value.md) on the golden change stream: what a consumer
// routes or segments on. A message is published when the stage, the
// segment or the ABC class moves (op "value"); the amounts ride along
// with that and every other change of the customer, they publish
// nothing on their own.
type ValueSummary struct {
	AsOf    string `json:"as_of"` // the day the figures were last computed for
	Stage   string `json:"stage"`
	Segment string `json:"segment,omitempty"`
	RFM     string `json:"rfm,omitempty"`
	ABC     string `json:"abc,omitempty"`
	// Revenue12m is the last 12 months in the base currency (other
	// currencies at the configured rates); Revenue12mByCurrency unconverted.
	Revenue12m           Money   `json:"revenue_12m"`
	Revenue12mByCurrency []Money `json:"revenue_12m_by_currency,omitempty"`
	OpenBalance          []Money `json:"open_balance,omitempty"`
	OverdueBalance       []Money `json:"overdue_balance,omitempty"`
}

// Bounded forms of a golden state (GoldenState.Bounded, header "bounded").
const BoundedSources = "sources"

// GoldenStateReader reads the published state of many golden customers at
// once: active ids only, merged, retired and unknown ids absent. A
// golden finder that implements it (hub/store does) is read once per batch
// of changes instead of once per change.
type GoldenStateReader interface {
	GoldenStates(ctx context.Context, ids []string) (map[string]*GoldenCustomer, error)
}

// GoldenSurvivorReader follows a golden id's merges to the active golden
// customer holding it now (ErrNotFound: retired or unknown). The golden
// change stream asks it where an id that is no longer active went,
// instead of reading the survivor's whole customer 360.
type GoldenSurvivorReader interface {
	GoldenSurvivor(ctx context.Context, id string) (string, error)
}
