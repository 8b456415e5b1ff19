package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/crmhub/hub"
)

// customerResponse is the customer 360 as served: the golden customer and,
// as far as the caller's scopes allow, one page each of orders, payments
// and service cases (newest first), the open balance and the last contact.
// Sections the caller may not see are absent, not empty.
type customerResponse struct {
	hub.GoldenCustomer
	Orders                 *[]hub.Order       `json:"orders,omitempty"`
	OrdersNextCursor       string             `json:"orders_next_cursor,omitempty"`
	Payments               *[]hub.Payment     `json:"payments,omitempty"`
	PaymentsNextCursor     string             `json:"payments_next_cursor,omitempty"`
	Cases                  *[]hub.ServiceCase `json:"service_cases,omitempty"`
	ServiceCasesNextCursor string             `json:"service_cases_next_cursor,omitempty"`
	OpenBalance            *[]hub.Money       `json:"open_balance,omitempty"`
	// LastContact is the newest order, payment or case date the caller
	// may see: a date without time counts as midnight UTC.
	LastContact *time.Time `json:"last_contact,omitempty"`
	// Value is the customer value figures the caller may see (value.go).
	Value *valueSection `json:"value,omitempty"`
}

// Cursors of the linked lists are opaque to clients: base64url of the
// store's sort key of the page's last record (date, record key).

func encodeCursor(c *hub.LinkCursor) string {
	if c == nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(c.At + "\x00" + c.Key))
}

func decodeCursor(s string) (*hub.LinkCursor, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	at, key, ok := strings.Cut(string(raw), "\x00")
	if !ok || key == "" || strings.Contains(key, "\x00") {
		return nil, false
	}
	return &hub.LinkCursor{At: at, Key: key}, true
}

// linkQuery reads the page parameters of the three lists, ?<list>_limit=
// and ?<list>_cursor=, and asks the store for the lists the caller may
// see, no others. A parameter for a list the caller may not see is a 403,
// not silently ignored; cursors only make sense for one customer
// (withCursors).
func linkQuery(w http.ResponseWriter, r *http.Request, vis visibility, withCursors bool) (hub.LinkQuery, bool) {
	q := r.URL.Query()
	var out hub.LinkQuery
	for _, l := range []struct {
		name    string
		visible bool
		page    **hub.LinkPage
	}{{"orders", vis.Orders, &out.Orders}, {"payments", vis.Payments, &out.Payments}, {"service_cases", vis.Cases, &out.Cases}} {
		limitS, cursorS := q.Get(l.name+"_limit"), q.Get(l.name+"_cursor")
		if !l.visible {
			if limitS != "" || cursorS != "" {
				writeError(w, http.StatusForbidden, CodeForbidden, "the token's scopes do not cover "+l.name)
				return hub.LinkQuery{}, false
			}
			continue
		}
		p := &hub.LinkPage{Limit: DefaultLimit}
		if limitS != "" {
			n, err := strconv.Atoi(limitS)
			if err != nil || n < 1 || n > MaxLimit {
				writeError(w, http.StatusBadRequest, CodeInvalidArgument, l.name+"_limit must be an integer from 1 to "+strconv.Itoa(MaxLimit))
				return hub.LinkQuery{}, false
			}
			p.Limit = n
		}
		if cursorS != "" {
			if !withCursors {
				writeError(w, http.StatusBadRequest, CodeInvalidArgument, l.name+"_cursor pages one customer: use it with GET /v1/customers/{id}")
				return hub.LinkQuery{}, false
			}
			c, ok := decodeCursor(cursorS)
			if !ok {
				writeError(w, http.StatusBadRequest, CodeInvalidArgument, l.name+"_cursor is not one this API returned")
				return hub.LinkQuery{}, false
			}
			p.After = c
		}
		*l.page = p
	}
	return out, true
}

// shape turns what the store read (only the lists vis allows) into what
// this caller may see.
func shape(c *hub.Customer360, vis visibility) customerResponse {
	out := customerResponse{GoldenCustomer: c.GoldenCustomer}
	vis.redactGolden(&out.GoldenCustomer)
	if vis.Orders {
		out.Orders, out.OrdersNextCursor = nonNil(c.Orders), encodeCursor(c.OrdersNext)
	}
	if vis.Payments {
		out.Payments, out.PaymentsNextCursor = nonNil(c.Payments), encodeCursor(c.PaymentsNext)
		out.OpenBalance = nonNil(c.OpenBalance)
	}
	if vis.Cases {
		out.Cases, out.ServiceCasesNextCursor = nonNil(c.Cases), encodeCursor(c.CasesNext)
	}
	// The store counted only the lists asked for, which are the visible ones.
	out.LastContact = c.LastContact
	return out
}

// nonNil points at a list, empty rather than nil: a visible empty list is
// [] in the JSON.
func nonNil[T any](s []T) *[]T {
	if s == nil {
		s = []T{}
	}
	return &s
}
