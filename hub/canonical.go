package hub

import (
	"encoding/json"
	"time"
)

// These types mirror the canonical JSON Schemas in schemas/ (v1). The
// schemas are the contract; these structs are how Go code reads it.

// Money is a decimal amount as a string (never a float) with an ISO 4217 currency.
type Money struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// Ref points at a record in a source system by that system's own id.
type Ref struct {
	System string `json:"system"`
	ID     string `json:"id"`
}

// Address is a postal address; Country is ISO 3166-1 alpha-2.
type Address struct {
	Type       string `json:"type,omitempty"` // billing, shipping, visit, home
	Street     string `json:"street,omitempty"`
	Street2    string `json:"street2,omitempty"` // a second line: building, unit, c/o (v1.3)
	PostalCode string `json:"postal_code,omitempty"`
	City       string `json:"city,omitempty"`
	Region     string `json:"region,omitempty"`
	Country    string `json:"country,omitempty"`
}

// PersonID is one typed identifier of a person, such as a national id,
// a social security number or a passport number.
type PersonID struct {
	Scheme  string `json:"scheme"` // ssn, nino, steuer_id, passport, national_id, ...
	Value   string `json:"value"`
	Country string `json:"country,omitempty"` // ISO 3166-1 alpha-2
}

// Customer is the canonical customer (schemas/customer.v1.json).
type Customer struct {
	Kind             string          `json:"kind"` // person | organization
	GivenName        string          `json:"given_name,omitempty"`
	FamilyName       string          `json:"family_name,omitempty"`
	FullName         string          `json:"full_name,omitempty"`
	OrganizationName string          `json:"organization_name,omitempty"`
	TaxID            string          `json:"tax_id,omitempty"`      // a firm's VAT/registration number
	BirthDate        string          `json:"birth_date,omitempty"`  // YYYY-MM-DD, YYYY-MM or YYYY (v1.1)
	Gender           string          `json:"gender,omitempty"`      // female | male | diverse | unknown (v1.1)
	Identifiers      []PersonID      `json:"identifiers,omitempty"` // typed person ids (v1.1)
	Emails           []string        `json:"emails,omitempty"`
	Phones           []string        `json:"phones,omitempty"` // E.164
	Addresses        []Address       `json:"addresses,omitempty"`
	Language         string          `json:"language,omitempty"`
	Status           string          `json:"status,omitempty"`
	Segment          string          `json:"segment,omitempty"`
	AccountManager   string          `json:"account_manager,omitempty"`
	CreditLimit      *Money          `json:"credit_limit,omitempty"`
	Consent          map[string]bool `json:"consent,omitempty"`
	CreatedAt        *time.Time      `json:"created_at,omitempty"`
	UpdatedAt        *time.Time      `json:"updated_at,omitempty"`
	ExternalIDs      []Ref           `json:"external_ids,omitempty"`
	Custom           json.RawMessage `json:"custom,omitempty"`
}

// OrderLine is one line of an order.
type OrderLine struct {
	LineNo      int    `json:"line_no"`
	SKU         string `json:"sku,omitempty"`
	Description string `json:"description,omitempty"`
	Quantity    string `json:"quantity"`
	UnitPrice   *Money `json:"unit_price,omitempty"`
	Amount      *Money `json:"amount,omitempty"`
	Category    string `json:"category,omitempty"` // product category (v1.2)
	Cost        *Money `json:"cost,omitempty"`     // the line's total cost, for margins (v1.2)
}

// Order is the canonical order (schemas/order.v1.json).
type Order struct {
	OrderNumber string          `json:"order_number"`
	CustomerRef Ref             `json:"customer_ref"`
	OrderDate   string          `json:"order_date,omitempty"` // YYYY-MM-DD
	Status      string          `json:"status,omitempty"`
	Total       *Money          `json:"total,omitempty"`
	Lines       []OrderLine     `json:"lines,omitempty"`
	Channel     string          `json:"channel,omitempty"` // sales channel (v1.2)
	Region      string          `json:"region,omitempty"`  // sales region (v1.2)
	UpdatedAt   *time.Time      `json:"updated_at,omitempty"`
	Custom      json.RawMessage `json:"custom,omitempty"`
}

// Payment is the canonical financial document (schemas/payment.v1.json):
// an invoice, a payment received or a credit note.
type Payment struct {
	DocumentNumber string          `json:"document_number"`
	Type           string          `json:"type"` // invoice | payment | credit_note
	CustomerRef    Ref             `json:"customer_ref"`
	Date           string          `json:"date,omitempty"`
	DueDate        string          `json:"due_date,omitempty"`
	Amount         Money           `json:"amount"`
	Status         string          `json:"status,omitempty"`
	Reference      string          `json:"reference,omitempty"` // e.g. the invoice a payment settles
	UpdatedAt      *time.Time      `json:"updated_at,omitempty"`
	Custom         json.RawMessage `json:"custom,omitempty"`
}

// ServiceCase is the canonical service case (schemas/service_case.v1.json).
type ServiceCase struct {
	CaseNumber  string          `json:"case_number"`
	CustomerRef Ref             `json:"customer_ref"`
	Subject     string          `json:"subject,omitempty"`
	Status      string          `json:"status"` // open | pending | resolved | closed
	Priority    string          `json:"priority,omitempty"`
	Channel     string          `json:"channel,omitempty"`
	Category    string          `json:"category,omitempty"`
	OpenedAt    *time.Time      `json:"opened_at,omitempty"`
	ClosedAt    *time.Time      `json:"closed_at,omitempty"`
	UpdatedAt   *time.Time      `json:"updated_at,omitempty"`
	Custom      json.RawMessage `json:"custom,omitempty"`
}
