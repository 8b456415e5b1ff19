package httpapi_test

import (
	"fmt"
	"net/url"
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
