package httpapi

import (
	"encoding/base64"
	"net/http"
	"slices"
	"sort"
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
}

// linkPage is one list's page request: ?<list>_limit= and ?<list>_cursor=.
type linkPage struct {
	limit int
	after *linkKey
}

// linkKey orders linked records: newest first, then system and number,
// so a page boundary is stable while records arrive.
type linkKey struct{ date, system, id string }

func compareKeys(a, b linkKey) int {
	if c := strings.Compare(b.date, a.date); c != 0 {
		return c
	}
	if c := strings.Compare(a.system, b.system); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

func (k linkKey) cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte(k.date + "\x00" + k.system + "\x00" + k.id))
}

func paginate[T any](all []T, key func(T) linkKey, p linkPage) ([]T, string) {
	items := slices.Clone(all)
	slices.SortStableFunc(items, func(a, b T) int { return compareKeys(key(a), key(b)) })
	start := 0
	if p.after != nil {
		start = sort.Search(len(items), func(i int) bool { return compareKeys(key(items[i]), *p.after) > 0 })
	}
	end := min(start+p.limit, len(items))
	page := items[start:end]
	if end < len(items) {
		return page, key(items[end-1]).cursor()
	}
	return page, ""
}

func orderKey(o hub.Order) linkKey { return linkKey{o.OrderDate, o.CustomerRef.System, o.OrderNumber} }
func paymentKey(p hub.Payment) linkKey {
	return linkKey{p.Date, p.CustomerRef.System, p.DocumentNumber}
}
func caseKey(c hub.ServiceCase) linkKey {
	var d string
	if c.OpenedAt != nil {
		// Fixed width, so the string order is the time order.
		d = c.OpenedAt.UTC().Format("2006-01-02T15:04:05.000000000Z")
	}
	return linkKey{d, c.CustomerRef.System, c.CaseNumber}
}

// linkPages reads the page parameters of the three lists. A parameter for
// a list the caller may not see is a 403, not silently ignored; cursors
// only make sense for one customer (withCursors).
func linkPages(w http.ResponseWriter, r *http.Request, vis visibility, withCursors bool) (map[string]linkPage, bool) {
	q := r.URL.Query()
	out := map[string]linkPage{}
	for _, l := range []struct {
		name    string
		visible bool
	}{{"orders", vis.Orders}, {"payments", vis.Payments}, {"service_cases", vis.Cases}} {
		limitS, cursorS := q.Get(l.name+"_limit"), q.Get(l.name+"_cursor")
		if (limitS != "" || cursorS != "") && !l.visible {
			writeError(w, http.StatusForbidden, CodeForbidden, "the token's scopes do not cover "+l.name)
			return nil, false
		}
		p := linkPage{limit: DefaultLimit}
		if limitS != "" {
			n, err := strconv.Atoi(limitS)
			if err != nil || n < 1 || n > MaxLimit {
				writeError(w, http.StatusBadRequest, CodeInvalidArgument, l.name+"_limit must be an integer from 1 to "+strconv.Itoa(MaxLimit))
				return nil, false
			}
			p.limit = n
		}
		if cursorS != "" {
			if !withCursors {
				writeError(w, http.StatusBadRequest, CodeInvalidArgument, l.name+"_cursor pages one customer: use it with GET /v1/customers/{id}")
				return nil, false
			}
			raw, err := base64.RawURLEncoding.DecodeString(cursorS)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 {
				writeError(w, http.StatusBadRequest, CodeInvalidArgument, l.name+"_cursor is not one this API returned")
				return nil, false
			}
			p.after = &linkKey{parts[0], parts[1], parts[2]}
		}
		out[l.name] = p
	}
	return out, true
}

// shape turns a stored customer view into what this caller may see.
func shape(v *hub.CustomerView, vis visibility, pages map[string]linkPage) customerResponse {
	out := customerResponse{GoldenCustomer: v.GoldenCustomer}
	vis.redactGolden(&out.GoldenCustomer)
	var last time.Time
	seen := func(s string) {
		if t, ok := parseDate(s); ok && t.After(last) {
			last = t
		}
	}
	if vis.Orders {
		page, next := paginate(v.Orders, orderKey, pages["orders"])
		out.Orders, out.OrdersNextCursor = &page, next
		for _, o := range v.Orders {
			seen(o.OrderDate)
		}
	}
	if vis.Payments {
		page, next := paginate(v.Payments, paymentKey, pages["payments"])
		out.Payments, out.PaymentsNextCursor = &page, next
		bal := v.OpenBalance
		if bal == nil {
			bal = []hub.Money{}
		}
		out.OpenBalance = &bal
		for _, p := range v.Payments {
			seen(p.Date)
		}
	}
	if vis.Cases {
		page, next := paginate(v.Cases, caseKey, pages["service_cases"])
		out.Cases, out.ServiceCasesNextCursor = &page, next
		for _, c := range v.Cases {
			for _, t := range []*time.Time{c.OpenedAt, c.ClosedAt} {
				if t != nil && t.After(last) {
					last = t.UTC()
				}
			}
		}
	}
	if !last.IsZero() {
		out.LastContact = &last
	}
	return out
}

func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}
