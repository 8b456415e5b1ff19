package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
)

// Each scope sees its part of the value figures, and only sales and admin
// list customers by value.
func TestValueByScope(t *testing.T) {
	f := newAuthFixture(t)
	id := f.seed(t)
	order := hub.Order{OrderNumber: "A-2", CustomerRef: hub.Ref{System: "erp", ID: "K1"}, OrderDate: time.Now().UTC().Format(time.DateOnly),
		Total: &hub.Money{Amount: "100.00", Currency: "EUR"}, Channel: "web",
		Lines: []hub.OrderLine{{LineNo: 1, Quantity: "1", Amount: &hub.Money{Amount: "100.00", Currency: "EUR"}, Category: "tools", Cost: &hub.Money{Amount: "70.00", Currency: "EUR"}}}}
	f.apply(t, linked(hub.EntityOrder, "erp", "A-2", "K1", order))
	want := map[string][]string{
		"sales":   {"revenue", "loyalty", "segment", "service"},
		"finance": {"margin", "payments"},
		"service": {"service"},
		"steward": nil,
		"admin":   {"revenue", "loyalty", "segment", "margin", "payments", "service"},
	}
	for caller, parts := range want {
		code, raw := f.do(t, caller, "GET", "/v1/customers/"+id, nil)
		var body struct {
			Value map[string]json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(raw, &body); code != 200 || err != nil {
			t.Fatalf("%s: %d %s", caller, code, raw)
		}
		if parts == nil {
			if body.Value != nil {
				t.Errorf("%s sees value %v", caller, body.Value)
			}
			continue
		}
		if len(body.Value) != len(parts)+1 {
			t.Errorf("%s sees %d parts, want as_of and %v: %s", caller, len(body.Value), parts, raw)
		}
		for _, p := range parts {
			if body.Value[p] == nil {
				t.Errorf("%s: no value.%s", caller, p)
			}
		}
	}
	code, raw := f.do(t, "admin", "GET", "/v1/customers/"+id, nil)
	var full struct {
		Value struct {
			Revenue struct {
				Lifetime []hub.Money `json:"lifetime"`
			} `json:"revenue"`
			Margin struct {
				Margin []hub.Money `json:"margin"`
			} `json:"margin"`
		} `json:"value"`
	}
	if err := json.Unmarshal(raw, &full); code != 200 || err != nil || len(full.Value.Revenue.Lifetime) != 1 ||
		full.Value.Revenue.Lifetime[0].Amount != "100.00" || full.Value.Margin.Margin[0].Amount != "30.00" {
		t.Errorf("figures: %d %s", code, raw)
	}

	for caller, status := range map[string]int{"sales": 200, "admin": 200, "finance": 403, "service": 403, "steward": 403} {
		if code, raw := f.do(t, caller, "GET", "/v1/customers?stage=new&sort=-revenue_12m", nil); code != status {
			t.Errorf("value list as %s: %d %s, want %d", caller, code, raw, status)
		}
	}
	var page struct {
		Items []struct {
			ID, Stage  string
			Revenue12m hub.Money `json:"revenue_12m"`
		}
	}
	if code, raw := f.do(t, "sales", "GET", "/v1/customers?stage=active", nil); code != 200 || json.Unmarshal(raw, &page) != nil ||
		len(page.Items) != 1 || page.Items[0].ID != id || page.Items[0].Revenue12m.Amount != "100.00" {
		t.Errorf("active customers: %d %s", code, raw)
	}
	if code, raw := f.do(t, "sales", "GET", "/v1/analytics/revenue?by=category", nil); code != 200 || string(raw) != `{"by":"category","items":[{"key":"tools","revenue":{"amount":"100.00","currency":"EUR"},"customers":1}]}`+"\n" {
		t.Errorf("revenue by category: %d %s", code, raw)
	}
	if code, raw := f.do(t, "finance", "GET", "/v1/analytics/revenue?by=category", nil); code != 200 || string(raw) != `{"by":"category","items":[{"key":"tools","currency":"EUR","margin":{"amount":"30.00","currency":"EUR"}}]}`+"\n" {
		t.Errorf("margin by category as finance: %d %s", code, raw)
	}
	if code, raw := f.do(t, "admin", "GET", "/v1/analytics/revenue?by=category", nil); code != 200 || !strings.Contains(string(raw), `"customers":1,"margin":{"amount":"30.00"`) {
		t.Errorf("revenue and margin by category as admin: %d %s", code, raw)
	}
	for _, bad := range []string{"/v1/customers?stage=sleepy", "/v1/customers?segment=x", "/v1/customers?sort=name", "/v1/customers?stage=new&email=a@b.c",
		"/v1/customers?stage=new&cursor=" + base64.RawURLEncoding.EncodeToString([]byte("x")), "/v1/analytics/revenue?by=sku", "/v1/analytics/revenue"} {
		if code, raw := f.do(t, "admin", "GET", bad, nil); code != 400 {
			t.Errorf("%s: %d %s, want 400", bad, code, raw)
		}
	}
}

// The value list pages by cursor through every customer, by revenue.
func TestValueListPages(t *testing.T) {
	f := newAuthFixture(t)
	var evs []hub.Envelope
	for i := range 7 {
		id := fmt.Sprintf("K%d", i)
		evs = append(evs, customer("erp", id, 1, hub.Customer{Kind: "organization", OrganizationName: fmt.Sprintf("Firm %c", 'A'+i), Emails: []string{id + "@x.example"}}),
			linked(hub.EntityOrder, "erp", "O"+id, id, hub.Order{OrderNumber: "O" + id, CustomerRef: hub.Ref{System: "erp", ID: id},
				OrderDate: time.Now().UTC().Format(time.DateOnly), Total: &hub.Money{Amount: fmt.Sprintf("%d.00", 10*(i%3)), Currency: "EUR"}}))
	}
	f.apply(t, evs...)
	if _, err := f.store.RefreshValue(context.Background(), time.Now(), 100); err != nil {
		t.Fatal(err)
	}
	var got []string
	path := "/v1/customers?sort=-revenue_12m&limit=3"
	for path != "" {
		var page struct {
			Items []struct {
				ID         string
				Revenue12m hub.Money `json:"revenue_12m"`
			}
			NextCursor string `json:"next_cursor"`
		}
		code, raw := f.do(t, "sales", "GET", path, nil)
		if code != 200 || json.Unmarshal(raw, &page) != nil {
			t.Fatalf("%s: %d %s", path, code, raw)
		}
		for _, it := range page.Items {
			got = append(got, it.Revenue12m.Amount)
		}
		path = ""
		if page.NextCursor != "" {
			path = "/v1/customers?sort=-revenue_12m&limit=3&cursor=" + page.NextCursor
		}
	}
	if fmt.Sprint(got) != "[20.00 20.00 10.00 10.00 0.00 0.00 0.00]" {
		t.Errorf("pages %v", got)
	}
	code, raw := f.do(t, "sales", "GET", "/v1/segments", nil)
	var segs struct {
		Items []struct{ Customers int64 }
	}
	n := int64(0)
	if json.Unmarshal(raw, &segs) == nil {
		for _, s := range segs.Items {
			n += s.Customers
		}
	}
	if code != 200 || n != 7 {
		t.Errorf("segments: %d %s", code, raw)
	}
}
