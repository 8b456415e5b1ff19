package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/httpapi"
)

// Every route the OpenAPI document describes refuses a query parameter it
// does not declare, with 400 and the list of the valid ones, instead of
// answering as if it were absent (?emial= returned everyone's first page).
func TestUnknownQueryParametersAre400(t *testing.T) {
	f := newAuthFixture(t)
	fill := strings.NewReplacer("{id}", "x", "{connector}", "x", "{entity}", "x")
	routes := httpapi.Routes(f.srv.Config.Handler)
	checked := 0
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt, " ")
		if strings.HasPrefix(path, "/debug/") || path == "/metrics" || path == "/" {
			continue
		}
		code, body := f.do(t, "admin", method, fill.Replace(path)+"?emial=x", nil)
		if code != http.StatusBadRequest || !strings.Contains(string(body), `unknown query parameter \"emial\"`) || !strings.Contains(string(body), "valid:") {
			t.Errorf("%s ?emial=x: %d %s", rt, code, body)
		}
		checked++
	}
	if checked < 15 {
		t.Errorf("checked %d routes, want every documented one", checked)
	}
	// A declared parameter still works.
	if code, body := f.do(t, "admin", "GET", "/v1/customers?email=nobody@example.com", nil); code != http.StatusOK {
		t.Errorf("?email=: %d %s", code, body)
	}
}

// A cursor this API did not return is 400 on every list, not an empty page;
// an error message never echoes a large input back.
func TestMalformedCursorsAndLongIDs(t *testing.T) {
	f := newAuthFixture(t)
	for _, path := range []string{"/v1/customers?cursor=garbage", "/v1/reviews?cursor=garbage", "/v1/deadletters?cursor=garbage",
		"/v1/changes?since=garbage", "/v1/customers/x?orders_cursor=garbage"} {
		if code, body := f.do(t, "admin", "GET", path, nil); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	long := strings.Repeat("a", 100_000)
	code, body := f.do(t, "admin", "GET", "/v1/customers/"+long, nil)
	if code != http.StatusNotFound || len(body) > 1024 {
		t.Errorf("404 of a 100 KB id: %d, %d bytes of body", code, len(body))
	}
}

// A name-prefix search answers with summaries (who, how to reach them, a
// link) unless view=full asks for the whole customers.
func TestNameSearchSummaries(t *testing.T) {
	f := newAuthFixture(t)
	f.apply(t, customer("crm", "c1", 1, hub.Customer{Kind: "person", FamilyName: "Schmidt", Emails: []string{"a@example.de"}}))
	var page struct {
		View  string           `json:"view"`
		Items []map[string]any `json:"items"`
	}
	code, raw := f.do(t, "admin", "GET", "/v1/customers?name=schm", nil)
	if err := json.Unmarshal(raw, &page); err != nil || code != 200 || len(page.Items) != 1 {
		t.Fatalf("summary search: %d %s", code, raw)
	}
	it := page.Items[0]
	if page.View != "summary" || it["email"] != "a@example.de" || it["href"] != "/v1/customers/"+it["id"].(string) || it["sources"] != nil {
		t.Errorf("summary item %v (view %q)", it, page.View)
	}
	code, raw = f.do(t, "admin", "GET", "/v1/customers?name=schm&view=full", nil)
	page.Items = nil
	if err := json.Unmarshal(raw, &page); err != nil || code != 200 || len(page.Items) != 1 || page.Items[0]["sources"] == nil {
		t.Errorf("full search: %d %s", code, raw)
	}
	if code, _ := f.do(t, "admin", "GET", "/v1/customers?name=schm&view=tiny", nil); code != 400 {
		t.Errorf("view=tiny: %d, want 400", code)
	}

	// Pages of a name search follow the names found, by their own
	// cursor; an id cursor does not continue them.
	f.apply(t, customer("crm", "c2", 1, hub.Customer{Kind: "person", FamilyName: "Schmitz", Emails: []string{"b@example.de"}}),
		customer("crm", "c3", 1, hub.Customer{Kind: "person", FamilyName: "Schmal", Emails: []string{"c@example.de"}}))
	var names []string
	cursor := ""
	for range 5 {
		var p struct {
			Items      []map[string]any `json:"items"`
			NextCursor string           `json:"next_cursor"`
		}
		code, raw := f.do(t, "admin", "GET", "/v1/customers?name=schm&limit=1"+cursor, nil)
		if err := json.Unmarshal(raw, &p); err != nil || code != 200 {
			t.Fatalf("page: %d %s", code, raw)
		}
		for _, it := range p.Items {
			names = append(names, it["family_name"].(string))
		}
		if p.NextCursor == "" {
			break
		}
		cursor = "&cursor=" + p.NextCursor
	}
	if strings.Join(names, ",") != "Schmal,Schmidt,Schmitz" {
		t.Errorf("pages of limit 1: %v, want Schmal, Schmidt, Schmitz in name order", names)
	}
	idCursor := base64.RawURLEncoding.EncodeToString([]byte("c1:" + it["id"].(string)))
	if code, _ := f.do(t, "admin", "GET", "/v1/customers?name=schm&cursor="+idCursor, nil); code != 400 {
		t.Errorf("an id cursor on a name search's summary pages: %d, want 400", code)
	}
}
