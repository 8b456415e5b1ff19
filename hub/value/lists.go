package value

import (
	"errors"
	"strconv"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
)

// The shapes of the value lists and analyses the store keeps and the API
// serves: here, so that the API and the store share them without one
// importing the other.

// ErrBadCursor is returned for a list cursor the store did not hand out.
var ErrBadCursor = errors.New("bad cursor")

// ListFilter selects customers by their value columns; empty fields do
// not filter.
type ListFilter struct {
	Segment string
	Stage   string
	ABC     string
	// Desc sorts by revenue_12m descending (else ascending), then id.
	Desc  bool
	Limit int
	// After is the cursor NextCursor gave.
	After string
}

// ListItem is one customer of a value list.
type ListItem struct {
	ID         string       `json:"id"`
	Customer   hub.Customer `json:"customer"`
	Stage      string       `json:"stage"`
	Segment    string       `json:"segment,omitempty"`
	RFM        string       `json:"rfm,omitempty"`
	ABC        string       `json:"abc,omitempty"`
	Revenue12m hub.Money    `json:"revenue_12m"`
}

// ListCursor is the cursor continuing after item.
func ListCursor(it ListItem) string {
	d, _ := decimal.NewFromString(it.Revenue12m.Amount)
	return strconv.FormatInt(d.Shift(2).IntPart(), 10) + ":" + it.ID
}

// SegmentCount is the customers and revenue of one segment and stage.
type SegmentCount struct {
	Segment    string    `json:"segment"` // "" for customers without orders
	Stage      string    `json:"stage"`
	ABC        string    `json:"abc"`
	Customers  int64     `json:"customers"`
	Revenue12m hub.Money `json:"revenue_12m"`
}

// Dimensions the revenue analysis is kept by.
var Dimensions = []string{"category", "channel", "region", "month"}

// RevenueRow is the lifetime revenue of one dimension value in one
// currency over all customers.
type RevenueRow struct {
	Key       string    `json:"key"`
	Revenue   hub.Money `json:"revenue"`
	Customers int64     `json:"customers"`
	// Margin is the margin of the order lines that carry a cost (see
	// docs/value.md), absent where none does.
	Margin *hub.Money `json:"margin,omitempty"`
}
