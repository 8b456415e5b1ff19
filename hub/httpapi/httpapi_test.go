package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/httpapi"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/store/ledger"
)

func customer(system, id string, minute int, c hub.Customer) hub.Envelope {
	b, _ := json.Marshal(c)
	e := hub.Envelope{System: system, SourceEntity: "customers", SourceID: id, Entity: hub.EntityCustomer,
		SourceUpdatedAt: time.Date(2026, 3, 1, 12, minute, 0, 0, time.UTC), SchemaVersion: hub.SchemaVersion,
		Op: hub.OpUpsert, Data: b}
	e.ComputeEventID()
	return e
}

type fixture struct {
	srv   *httptest.Server
	store *store.Store
	ready map[string]error
	rec   *pipeline.Reconciler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := store.Open(context.Background(), store.DriverSQLite, filepath.Join(t.TempDir(), "hub.db"),
		store.Options{Registerer: reg, Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &fixture{store: s, ready: map[string]error{"kafka": nil}, rec: reconcilerFor(t, s)}
	f.srv = httptest.NewServer(httpapi.New(s, httpapi.Options{
		Gatherer: reg,
		Ready:    func(context.Context) map[string]error { return f.ready },
		Changes:  s,
		Steward:  s,
		Connectors: func(context.Context) []httpapi.ConnectorStatus {
			return []httpapi.ConnectorStatus{{Name: "erp", Plugin: "sql", System: "erp", State: "running"}}
		},
		// A real dead-letter service (embedded Kafka), so every route is on.
		DeadLetters:    dlService(t, s),
		Reconciliation: f.rec,
		Writeback:      ledger.New(s.DB()),
		// Tests name the actor in a header; production takes it from the token.
		Actor: func(r *http.Request) (string, bool) {
			a := r.Header.Get("X-Test-Actor")
			return a, a != ""
		},
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) apply(t *testing.T, evs ...hub.Envelope) {
	t.Helper()
	if _, err := f.store.Apply(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

// get fetches path without following redirects and decodes JSON into v.
func (f *fixture) get(t *testing.T, path string, v any) *http.Response {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode != http.StatusMovedPermanently {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %d %s: %v", path, resp.StatusCode, body, err)
		}
	}
	return resp
}

type errBody struct {
	Error struct{ Code, Message string } `json:"error"`
}

func TestCustomerByIDAndRedirect(t *testing.T) {
	f := newFixture(t)
	f.apply(t, customer("erp", "K1", 1, hub.Customer{Kind: "person", FamilyName: "Schmidt", Emails: []string{"a@example.de"}}))
	f.apply(t, customer("zcrm", "c1", 1, hub.Customer{Kind: "person", FamilyName: "Schmidt", Phones: []string{"+49301234567"}}))
	var page struct {
		Items []hub.CustomerView `json:"items"`
	}
	f.get(t, "/v1/customers?source_id=c1&system=zcrm", &page)
	if len(page.Items) != 1 {
		t.Fatalf("search by source id: %+v", page)
	}
	loser := page.Items[0].ID
	// A bridge merges the two; erp/customers/K1 is the smaller key, so its id survives.
	f.apply(t, customer("svc", "s1", 2, hub.Customer{Kind: "person", FamilyName: "Schmidt", Emails: []string{"a@example.de"}, Phones: []string{"030 1234567"}}))

	resp := f.get(t, "/v1/customers/"+loser, nil)
	if resp.StatusCode != http.StatusMovedPermanently {
		t.Fatalf("merged id: status %d, want 301", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	var v hub.CustomerView
	if resp := f.get(t, loc, &v); resp.StatusCode != http.StatusOK || v.ID == loser || len(v.Sources) != 3 {
		t.Fatalf("survivor at %s: %d, %+v", loc, resp.StatusCode, v)
	}
	if !strings.HasSuffix(loc, "/v1/customers/"+v.ID) {
		t.Errorf("Location %q does not name the survivor %s", loc, v.ID)
	}
	var ex struct {
		Lineage map[string]hub.FieldLineage `json:"lineage"`
	}
	if resp := f.get(t, "/v1/customers/"+v.ID+"/explain", &ex); resp.StatusCode != 200 || ex.Lineage["family_name"].Source != "svc/customers/s1" {
		t.Fatalf("explain: %d %+v", resp.StatusCode, ex)
	}
	var e errBody
	if resp := f.get(t, "/v1/customers/g_nope", &e); resp.StatusCode != 404 || e.Error.Code != "not_found" {
		t.Fatalf("unknown id: %d %+v", resp.StatusCode, e)
	}
}

func TestSearchPaginationAndErrors(t *testing.T) {
	f := newFixture(t)
	for i, name := range []string{"Schmidt", "Schmitz", "Schneider", "Meier", "Schubert"} {
		f.apply(t, customer("crm", name, i, hub.Customer{Kind: "person", FamilyName: name, Emails: []string{strings.ToLower(name) + "@example.de"}}))
	}
	seen := map[string]bool{}
	cursor := ""
	pages := 0
	for {
		var page struct {
			Items      []hub.CustomerView `json:"items"`
			NextCursor string             `json:"next_cursor"`
		}
		path := "/v1/customers?name=sch&limit=2"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if resp := f.get(t, path, &page); resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		pages++
		for _, it := range page.Items {
			if seen[it.ID] {
				t.Fatalf("%s seen twice", it.ID)
			}
			seen[it.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 4 || pages != 2 {
		t.Fatalf("saw %d customers on %d pages, want 4 on 2", len(seen), pages)
	}
	var page struct{ Items []hub.CustomerView }
	f.get(t, "/v1/customers?email="+url.QueryEscape("SCHMIDT@Example.de"), &page)
	if len(page.Items) != 1 || page.Items[0].Customer.FamilyName != "Schmidt" {
		t.Fatalf("email search: %+v", page.Items)
	}
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/customers?limit=0", 400, "invalid_argument"},
		{"/v1/customers?limit=x", 400, "invalid_argument"},
		{"/v1/customers?cursor=%25%25", 400, "invalid_argument"},
		{"/v1/customers?phone=hello", 400, "invalid_argument"},
		{"/v1/customers?system=crm", 400, "invalid_argument"},
		{"/v2/nothing", 404, "not_found"},
	} {
		var e errBody
		if resp := f.get(t, tc.path, &e); resp.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
			t.Errorf("%s: %d %+v, want %d %s", tc.path, resp.StatusCode, e, tc.status, tc.code)
		}
	}
}

func TestProbesAndMetrics(t *testing.T) {
	f := newFixture(t)
	f.apply(t, customer("crm", "1", 1, hub.Customer{Kind: "person", FamilyName: "A"}))
	var h map[string]string
	if resp := f.get(t, "/healthz", &h); resp.StatusCode != 200 || h["status"] != "ok" {
		t.Fatalf("healthz: %d %v", resp.StatusCode, h)
	}
	var r struct {
		Status string
		Checks map[string]string
	}
	if resp := f.get(t, "/readyz", &r); resp.StatusCode != 200 || r.Checks["store"] != "ok" || r.Checks["kafka"] != "ok" {
		t.Fatalf("readyz: %d %+v", resp.StatusCode, r)
	}
	f.ready = map[string]error{"kafka": errors.New("no brokers reachable")}
	if resp := f.get(t, "/readyz", &r); resp.StatusCode != 503 || r.Checks["kafka"] != "no brokers reachable" || r.Status != "unavailable" {
		t.Fatalf("readyz with a failing check: %d %+v", resp.StatusCode, r)
	}
	resp, err := http.Get(f.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`crmhub_hub_applied_total{entity="customer"} 1`,
		"crmhub_hub_golden_customers 1",
		"crmhub_hub_parked_records 0",
		"crmhub_hub_golden_created_total 1",
		"crmhub_hub_apply_duration_seconds_count 1",
		"crmhub_hub_parked_oldest_age_seconds 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
