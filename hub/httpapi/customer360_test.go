package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
)

// Orders, payments and cases of one customer come a page at a time,
// newest first, each list with its own cursor; last_contact is the newest
// date of the three.
func TestCustomer360LinkedPages(t *testing.T) {
	f := newFixture(t)
	evs := []hub.Envelope{customer("erp", "K1", 1, hub.Customer{Kind: "organization", OrganizationName: "Schmidt GmbH"})}
	ref := hub.Ref{System: "erp", ID: "K1"}
	dates := []string{"2026-01-05", "2026-02-11", "2025-12-24", "2026-02-11", "2026-01-30"}
	for i, d := range dates {
		n := fmt.Sprintf("A-%d", i)
		evs = append(evs, linked(hub.EntityOrder, "erp", n, "K1", hub.Order{OrderNumber: n, CustomerRef: ref, OrderDate: d}))
	}
	for i := range 3 {
		n := fmt.Sprintf("R-%d", i)
		evs = append(evs, linked(hub.EntityPayment, "erp", n, "K1", hub.Payment{DocumentNumber: n, Type: "invoice", CustomerRef: ref,
			Date: fmt.Sprintf("2026-01-%02d", 10+i), Amount: hub.Money{Amount: "10.00", Currency: "EUR"}}))
	}
	closed := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	evs = append(evs,
		linked(hub.EntityServiceCase, "erp", "T-1", "K1", hub.ServiceCase{CaseNumber: "T-1", CustomerRef: ref, Status: "closed",
			OpenedAt: ptr(time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)), ClosedAt: &closed}),
		linked(hub.EntityServiceCase, "erp", "T-2", "K1", hub.ServiceCase{CaseNumber: "T-2", CustomerRef: ref, Status: "open",
			OpenedAt: ptr(time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC))}))
	f.apply(t, evs...)
	id := f.idOf(t, "erp", "K1")

	type view struct {
		Orders                 []hub.Order
		OrdersNextCursor       string `json:"orders_next_cursor"`
		Payments               []hub.Payment
		PaymentsNextCursor     string            `json:"payments_next_cursor"`
		Cases                  []hub.ServiceCase `json:"service_cases"`
		ServiceCasesNextCursor string            `json:"service_cases_next_cursor"`
		OpenBalance            []hub.Money       `json:"open_balance"`
		LastContact            time.Time         `json:"last_contact"`
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("the order cursor does not end")
		}
		path := "/v1/customers/" + id + "?orders_limit=2&payments_limit=2&service_cases_limit=1"
		if cursor != "" {
			path += "&orders_cursor=" + url.QueryEscape(cursor)
		}
		var v view
		if resp := f.get(t, path, &v); resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		if len(v.Orders) > 2 {
			t.Fatalf("page of %d orders with orders_limit=2", len(v.Orders))
		}
		for _, o := range v.Orders {
			got = append(got, o.OrderDate+" "+o.OrderNumber)
		}
		if pages == 0 {
			if len(v.Payments) != 2 || v.Payments[0].DocumentNumber != "R-2" || v.PaymentsNextCursor == "" {
				t.Fatalf("payments page: %+v next %q", v.Payments, v.PaymentsNextCursor)
			}
			if len(v.Cases) != 1 || v.Cases[0].CaseNumber != "T-2" || v.ServiceCasesNextCursor == "" {
				t.Fatalf("cases page: %+v next %q", v.Cases, v.ServiceCasesNextCursor)
			}
			if len(v.OpenBalance) != 1 || v.OpenBalance[0].Amount != "30.00" {
				t.Fatalf("open balance over all payments, not the page: %+v", v.OpenBalance)
			}
			// The closed case is the newest contact, though opened first.
			if !v.LastContact.Equal(closed) {
				t.Fatalf("last_contact %v, want %v", v.LastContact, closed)
			}
			var next view
			f.get(t, "/v1/customers/"+id+"?service_cases_limit=1&service_cases_cursor="+url.QueryEscape(v.ServiceCasesNextCursor), &next)
			if len(next.Cases) != 1 || next.Cases[0].CaseNumber != "T-1" || next.ServiceCasesNextCursor != "" {
				t.Fatalf("second case page: %+v next %q", next.Cases, next.ServiceCasesNextCursor)
			}
		}
		if v.OrdersNextCursor == "" {
			break
		}
		cursor = v.OrdersNextCursor
	}
	want := []string{"2026-02-11 A-1", "2026-02-11 A-3", "2026-01-30 A-4", "2026-01-05 A-0", "2025-12-24 A-2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("orders over pages:\n got %v\nwant %v", got, want)
	}

	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/v1/customers/" + id + "?orders_limit=0", 400},
		{"/v1/customers/" + id + "?payments_limit=201", 400},
		{"/v1/customers/" + id + "?orders_cursor=%25%25", 400},
		{"/v1/customers/" + id + "?service_cases_cursor=YQ", 400},
		{"/v1/customers?name=schmidt&orders_cursor=YQ", 400},
	} {
		var e errBody
		if resp := f.get(t, tc.path, &e); resp.StatusCode != tc.status || e.Error.Code != "invalid_argument" {
			t.Errorf("%s: %d %+v", tc.path, resp.StatusCode, e)
		}
	}
	// Search results carry the first page of each list.
	var page struct{ Items []view }
	f.get(t, "/v1/customers?name=schmidt&orders_limit=1", &page)
	if len(page.Items) != 1 || len(page.Items[0].Orders) != 1 || page.Items[0].OrdersNextCursor == "" {
		t.Fatalf("search: %+v", page.Items)
	}
}

// A customer with many orders under two source records, once two golden
// customers: a merged id redirects (its cursors belong to the survivor's
// URL), and the survivor's orders page through, each exactly once, newest
// first; an empty visible list is [] with no cursor.
func TestCustomer360ManyOrders(t *testing.T) {
	f := newFixture(t)
	f.apply(t,
		customer("erp", "K1", 1, hub.Customer{Kind: "organization", OrganizationName: "Großhandel Nord", Emails: []string{"einkauf@nord.example"}}),
		customer("crm", "c1", 1, hub.Customer{Kind: "organization", OrganizationName: "Großhandel Nord", Phones: []string{"+49401234567"}}))
	a, c := f.idOf(t, "erp", "K1"), f.idOf(t, "crm", "c1")
	const n = 1100
	var evs []hub.Envelope
	want := map[string]string{} // order number -> date
	for i := range n {
		sys, ref := "erp", "K1"
		if i%3 == 0 {
			sys, ref = "crm", "c1"
		}
		num := fmt.Sprintf("%s-%05d", strings.ToUpper(sys), i)
		date := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%90).Format(time.DateOnly)
		evs = append(evs, linked(hub.EntityOrder, sys, num, ref, hub.Order{OrderNumber: num, CustomerRef: hub.Ref{System: sys, ID: ref}, OrderDate: date}))
		want[num] = date
	}
	f.apply(t, evs...)
	f.apply(t, customer("svc", "s1", 2, hub.Customer{Kind: "organization", OrganizationName: "Großhandel Nord",
		Emails: []string{"einkauf@nord.example"}, Phones: []string{"040 1234567"}}))
	survivor := f.idOf(t, "erp", "K1")
	loser := a
	if survivor == a {
		loser = c
	}

	type view struct {
		ID                 string
		Orders             []hub.Order
		OrdersNextCursor   string `json:"orders_next_cursor"`
		Payments           *[]hub.Payment
		PaymentsNextCursor *string      `json:"payments_next_cursor"`
		OpenBalance        *[]hub.Money `json:"open_balance"`
	}
	var first view
	resp := f.get(t, "/v1/customers/"+survivor+"?orders_limit=200", &first)
	if resp.StatusCode != 200 || len(first.Orders) != 200 || first.OrdersNextCursor == "" {
		t.Fatalf("first page: %d, %d orders, next %q", resp.StatusCode, len(first.Orders), first.OrdersNextCursor)
	}
	if first.Payments == nil || len(*first.Payments) != 0 || first.PaymentsNextCursor != nil || first.OpenBalance == nil || len(*first.OpenBalance) != 0 {
		t.Fatalf("no payments: want payments [] and open_balance [] without a cursor, got %v %v %v", first.Payments, first.PaymentsNextCursor, first.OpenBalance)
	}
	resp = f.get(t, "/v1/customers/"+loser+"?orders_limit=200&orders_cursor="+url.QueryEscape(first.OrdersNextCursor), nil)
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/v1/customers/"+survivor {
		t.Fatalf("merged id with a cursor: %d to %q, want 301 to the survivor", resp.StatusCode, resp.Header.Get("Location"))
	}

	var got []hub.Order
	v := first
	for pages := 1; ; pages++ {
		got = append(got, v.Orders...)
		if v.OrdersNextCursor == "" {
			break
		}
		if pages > n/200+1 {
			t.Fatal("the order cursor does not end")
		}
		path := "/v1/customers/" + survivor + "?orders_limit=200&orders_cursor=" + url.QueryEscape(v.OrdersNextCursor)
		v = view{}
		if resp := f.get(t, path, &v); resp.StatusCode != 200 || v.ID != survivor {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, v.ID)
		}
	}
	seen := map[string]bool{}
	for i, o := range got {
		if seen[o.OrderNumber] {
			t.Fatalf("order %s twice", o.OrderNumber)
		}
		seen[o.OrderNumber] = true
		if want[o.OrderNumber] != o.OrderDate {
			t.Fatalf("order %s: date %q, want %q", o.OrderNumber, o.OrderDate, want[o.OrderNumber])
		}
		if i > 0 && o.OrderDate > got[i-1].OrderDate {
			t.Fatalf("order %d (%s) is newer than the one before it (%s)", i, o.OrderDate, got[i-1].OrderDate)
		}
	}
	if len(seen) != n {
		t.Fatalf("paged %d distinct orders, want %d", len(seen), n)
	}
}

// A cursor the API did not return is a 400 with the stable code, whatever
// is wrong with it.
func TestCustomer360BadCursor(t *testing.T) {
	f := newFixture(t)
	f.apply(t, customer("erp", "K1", 1, hub.Customer{Kind: "person", FamilyName: "Schmidt"}))
	id := f.idOf(t, "erp", "K1")
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, c := range []string{
		"%%",                           // not base64
		"YQ",                           // "a": no key
		b64("2026-01-01\x00"),          // empty key
		b64("2026-01-01\x00erp\x00A1"), // three parts
		b64("2026-01-01") + "=",        // padding
	} {
		for _, list := range []string{"orders", "payments", "service_cases"} {
			path := "/v1/customers/" + id + "?" + list + "_cursor=" + url.QueryEscape(c)
			var e errBody
			if resp := f.get(t, path, &e); resp.StatusCode != 400 || e.Error.Code != "invalid_argument" || !strings.Contains(e.Error.Message, list+"_cursor") {
				t.Errorf("%s: %d %+v", path, resp.StatusCode, e)
			}
		}
	}
}

// spyStore records the link queries the API makes.
type spyStore struct {
	hub.Store
	mu      sync.Mutex
	queries []hub.LinkQuery
}

func (s *spyStore) FindCustomer360(ctx context.Context, id string, q hub.LinkQuery) (*hub.Customer360, error) {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
	return s.Store.FindCustomer360(ctx, id, q)
}

func (s *spyStore) FindCustomers360(ctx context.Context, f hub.CustomerFilter, q hub.LinkQuery) ([]hub.Customer360, error) {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
	return s.Store.FindCustomers360(ctx, f, q)
}

// The store is asked only for the lists the caller may see: a hidden list
// costs nothing, and its records never leave the store.
func TestCustomer360ReadsOnlyVisibleLists(t *testing.T) {
	spy := &spyStore{}
	f := newAuthFixtureWith(t, func(s hub.Store) hub.Store { spy.Store = s; return spy })
	id := f.seed(t)
	for _, tc := range []struct {
		caller                  string
		orders, payments, cases bool
	}{
		{"sales", true, false, true},
		{"finance", false, true, false},
		{"service", false, false, true},
		{"steward", false, false, false},
		{"admin", true, true, true},
		{"multi", false, true, true},
	} {
		for _, path := range []string{"/v1/customers/" + id, "/v1/customers?name=schmidt&view=full"} {
			spy.mu.Lock()
			spy.queries = nil
			spy.mu.Unlock()
			if code, raw := f.do(t, tc.caller, "GET", path, nil); code != 200 {
				t.Fatalf("%s %s: %d %s", tc.caller, path, code, raw)
			}
			spy.mu.Lock()
			qs := spy.queries
			spy.mu.Unlock()
			if len(qs) != 1 {
				t.Fatalf("%s %s: %d store reads, want 1", tc.caller, path, len(qs))
			}
			q := qs[0]
			if (q.Orders != nil) != tc.orders || (q.Payments != nil) != tc.payments || (q.Cases != nil) != tc.cases {
				t.Errorf("%s %s: asked orders=%v payments=%v cases=%v, want %v %v %v", tc.caller, path,
					q.Orders != nil, q.Payments != nil, q.Cases != nil, tc.orders, tc.payments, tc.cases)
			}
		}
	}
}
