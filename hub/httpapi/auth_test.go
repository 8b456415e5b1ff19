package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/auth"
	"github.com/crmhub/crmhub/hub/httpapi"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/store"
)

// authFixture is the API with token authentication on, the tokens kept in
// the store's own database as in production.
type authFixture struct {
	srv    *httptest.Server
	store  *store.Store
	tokens *auth.Store
	// secret per caller name: one token per scope, "revoked", "multi".
	secret map[string]string
}

func newAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	return newAuthFixtureWith(t, func(s hub.Store) hub.Store { return s })
}

// newAuthFixtureWith serves the store as wrap returns it, so a test can
// watch what the API asks of it.
func newAuthFixtureWith(t *testing.T, wrap func(hub.Store) hub.Store) *authFixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	reg := prometheus.NewRegistry()
	s, err := store.Open(ctx, store.DriverSQLite, path, store.Options{Registerer: reg, Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tokens, err := auth.Open(ctx, "sqlite", path, auth.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tokens.Close() })
	f := &authFixture{store: s, tokens: tokens, secret: map[string]string{}}
	for _, sc := range auth.AllScopes {
		f.secret[string(sc)] = f.create(t, "tok-"+string(sc), sc)
	}
	f.secret["revoked"] = f.create(t, "tok-revoked", auth.ScopeAdmin)
	if _, err := tokens.Revoke(ctx, "tok-revoked"); err != nil {
		t.Fatal(err)
	}
	f.secret["multi"] = f.create(t, "tok-multi", auth.ScopeService, auth.ScopeFinance)
	f.srv = httptest.NewServer(httpapi.New(wrap(s), httpapi.Options{Gatherer: reg, Changes: s, Steward: s, DeadLetters: dlService(t, s), Reconciliation: reconcilerFor(t, s), Auth: tokens}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *authFixture) create(t *testing.T, name string, scopes ...auth.Scope) string {
	t.Helper()
	secret, _, err := f.tokens.Create(context.Background(), name, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func (f *authFixture) apply(t *testing.T, evs ...hub.Envelope) {
	t.Helper()
	if _, err := f.store.Apply(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

// do sends a request as caller ("" for no token, "garbage" for a token
// that was never issued) and returns the status and the raw body.
func (f *authFixture) do(t *testing.T, caller, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	switch caller {
	case "":
	case "garbage":
		req.Header.Set("Authorization", "Bearer crmhub_"+strings.Repeat("x", 43))
	default:
		secret, ok := f.secret[caller]
		if !ok {
			t.Fatalf("no token for %q", caller)
		}
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func linked(entity, system, id, custID string, v any) hub.Envelope {
	b, _ := json.Marshal(v)
	e := hub.Envelope{System: system, SourceEntity: entity + "s", SourceID: id, Entity: entity,
		SourceUpdatedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), SchemaVersion: hub.SchemaVersion,
		Op: hub.OpUpsert, Data: b}
	e.ComputeEventID()
	return e
}

// seed stores one customer with a credit limit, an order, a payment and a
// case, and returns its golden id.
func (f *authFixture) seed(t *testing.T) string {
	t.Helper()
	f.apply(t,
		customer("erp", "K1", 1, hub.Customer{Kind: "organization", OrganizationName: "Schmidt GmbH", Emails: []string{"info@schmidt.example"},
			CreditLimit: &hub.Money{Amount: "50000.00", Currency: "EUR"}}),
		linked(hub.EntityOrder, "erp", "A-1", "K1", hub.Order{OrderNumber: "A-1", CustomerRef: hub.Ref{System: "erp", ID: "K1"}, OrderDate: "2026-02-01"}),
		linked(hub.EntityPayment, "erp", "R-1", "K1", hub.Payment{DocumentNumber: "R-1", Type: "invoice", CustomerRef: hub.Ref{System: "erp", ID: "K1"},
			Date: "2026-02-20", Amount: hub.Money{Amount: "119.00", Currency: "EUR"}}),
		linked(hub.EntityServiceCase, "erp", "T-1", "K1", hub.ServiceCase{CaseNumber: "T-1", CustomerRef: hub.Ref{System: "erp", ID: "K1"}, Status: "open",
			OpenedAt: ptr(time.Date(2026, 2, 10, 9, 30, 0, 0, time.UTC))}),
	)
	var page struct{ Items []struct{ ID string } }
	code, raw := f.do(t, "admin", "GET", "/v1/customers?system=erp&source_id=K1", nil)
	if err := json.Unmarshal(raw, &page); err != nil || code != 200 || len(page.Items) != 1 {
		t.Fatalf("find seeded customer: %d %s", code, raw)
	}
	return page.Items[0].ID
}

func ptr[T any](v T) *T { return &v }

// Every route against every caller. A route the handler serves but this
// table lacks fails the test: a new route needs a decision here.
func TestScopesByRoute(t *testing.T) {
	f := newAuthFixture(t)
	id := f.seed(t)
	f.apply(t, customer("crm", "c9", 1, hub.Customer{Kind: "person", FamilyName: "Brandt"}))
	var page struct{ Items []struct{ ID string } }
	_, raw := f.do(t, "admin", "GET", "/v1/customers?system=crm&source_id=c9", nil)
	_ = json.Unmarshal(raw, &page)
	other := page.Items[0].ID

	const (
		public  = "public"
		read    = "read"
		steward = "steward"
		revenue = "revenue" // read, and the visibility of revenue: sales, admin
		money   = "money"   // read, and the visibility of revenue or margins: sales, finance, admin
	)
	type routeCase struct {
		pattern string
		path    string
		body    any
		who     string
		ok      int // status when allowed
	}
	routes := []routeCase{
		{"GET /healthz", "/healthz", nil, public, 200},
		{"GET /readyz", "/readyz", nil, public, 200},
		{"GET /metrics", "/metrics", nil, public, 200},
		{"GET /v1/openapi.json", "/v1/openapi.json", nil, public, 200},
		{"GET /v1/customers", "/v1/customers?name=schmidt", nil, read, 200},
		{"GET /v1/customers/{id}", "/v1/customers/" + id, nil, read, 200},
		{"GET /v1/changes", "/v1/changes", nil, read, 200},
		{"GET /v1/customers/{id}/explain", "/v1/customers/" + id + "/explain", nil, steward, 200},
		{"GET /v1/customers/{id}/audit", "/v1/customers/" + id + "/audit", nil, steward, 200},
		{"GET /v1/reviews", "/v1/reviews", nil, steward, 200},
		{"POST /v1/reviews/decision", "/v1/reviews/decision", map[string]string{"a": "crm/customers/x", "b": "crm/customers/y", "decision": "reject", "reason": "t"}, steward, 404},
		// Mutations name records that do not exist: refused after the scope check, so no caller changes state for the next.
		{"POST /v1/customers/{id}/merge", "/v1/customers/" + id + "/merge", map[string]string{"with": "g_nope", "reason": "t"}, steward, 404},
		{"POST /v1/customers/{id}/unmerge", "/v1/customers/" + other + "/unmerge", map[string]string{"record": "crm/customers/nope", "reason": "t"}, steward, 400},
		{"GET /v1/deadletters", "/v1/deadletters", nil, steward, 200},
		{"GET /v1/deadletters/{id}", "/v1/deadletters/nope", nil, steward, 404},
		{"POST /v1/deadletters/{id}/replay", "/v1/deadletters/nope/replay", nil, steward, 404},
		{"POST /v1/deadletters/{id}/resolve", "/v1/deadletters/nope/resolve", map[string]string{"note": "t"}, steward, 404},
		{"POST /v1/deadletters/replay", "/v1/deadletters/replay", map[string]string{"reason_class": "mapping_error", "connector": "nope"}, steward, 200},
		{"GET /v1/reconciliation", "/v1/reconciliation", nil, steward, 200},
		{"GET /v1/reconciliation/{connector}/{entity}/missing", "/v1/reconciliation/erp/customers/missing", nil, steward, 200},
		{"GET /v1/segments", "/v1/segments", nil, revenue, 200},
		{"GET /v1/analytics/revenue", "/v1/analytics/revenue?by=channel", nil, money, 200},
	}
	served := httpapi.Routes(f.srv.Config.Handler)
	for _, p := range served {
		if !slices.ContainsFunc(routes, func(r routeCase) bool { return r.pattern == p }) {
			t.Errorf("route %s is served but not in this table", p)
		}
	}
	callers := []string{"", "garbage", "revoked", "sales", "finance", "service", "steward", "admin", "multi"}
	for _, rt := range routes {
		if !slices.Contains(served, rt.pattern) {
			t.Errorf("route %s in the table is not served", rt.pattern)
			continue
		}
		method, _, _ := strings.Cut(rt.pattern, " ")
		for _, caller := range callers {
			want := rt.ok
			switch {
			case rt.who == public:
			case caller == "" || caller == "garbage" || caller == "revoked":
				want = 401
			case rt.who == steward && caller != "steward" && caller != "admin":
				want = 403
			case rt.who == revenue && caller != "sales" && caller != "admin":
				want = 403
			case rt.who == money && caller != "sales" && caller != "finance" && caller != "admin" && caller != "multi":
				want = 403
			}
			code, raw := f.do(t, caller, method, rt.path, rt.body)
			if code != want {
				t.Errorf("%s as %q: %d %s, want %d", rt.pattern, caller, code, raw, want)
				continue
			}
			if want == 401 || want == 403 {
				var e errBody
				wantCode := map[int]string{401: "unauthenticated", 403: "forbidden"}[want]
				if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code != wantCode {
					t.Errorf("%s as %q: body %s, want error code %s", rt.pattern, caller, raw, wantCode)
				}
				// Never a partial answer: an error body and nothing else.
				if bytes.Contains(raw, []byte("Schmidt")) || bytes.Contains(raw, []byte(id)) {
					t.Errorf("%s as %q: refusal leaks data: %s", rt.pattern, caller, raw)
				}
			}
		}
	}
	if got := httpapi.RouteAccess("GET /v1/something-new"); got != "admin" {
		t.Errorf("unlisted route needs %q, want admin", got)
	}
	if got := httpapi.RouteAccess("POST /v1/deadletters/{id}/replay"); got != "steward or admin" {
		t.Errorf("dead-letter replay needs %q, want steward or admin", got)
	}
}

// Hidden parts are absent from the JSON, not null or empty, in the
// customer, its sources, its lineage and the search results alike.
func TestHiddenFieldsAbsent(t *testing.T) {
	f := newAuthFixture(t)
	id := f.seed(t)
	type want struct{ orders, payments, cases, balance, credit bool }
	for _, tc := range []struct {
		caller string
		want   want
	}{
		{"sales", want{orders: true, cases: true, credit: true}},
		{"finance", want{payments: true, balance: true, credit: true}},
		{"service", want{cases: true}},
		{"steward", want{credit: true}},
		{"admin", want{true, true, true, true, true}},
		{"multi", want{payments: true, balance: true, cases: true, credit: true}}, // service+finance: the union
	} {
		code, raw := f.do(t, tc.caller, "GET", "/v1/customers/"+id, nil)
		if code != 200 {
			t.Fatalf("%s: %d %s", tc.caller, code, raw)
		}
		var one map[string]any
		if err := json.Unmarshal(raw, &one); err != nil {
			t.Fatal(err)
		}
		code, raw = f.do(t, tc.caller, "GET", "/v1/customers?name=schmidt&view=full", nil)
		var page struct{ Items []map[string]any }
		if err := json.Unmarshal(raw, &page); err != nil || code != 200 || len(page.Items) != 1 {
			t.Fatalf("%s search: %d %s", tc.caller, code, raw)
		}
		for where, doc := range map[string]map[string]any{"get": one, "search": page.Items[0]} {
			check := func(key string, present bool, has bool) {
				if present != has {
					t.Errorf("%s %s: %s present=%v, want %v", tc.caller, where, key, present, has)
				}
			}
			_, ok := doc["orders"]
			check("orders", ok, tc.want.orders)
			_, ok = doc["payments"]
			check("payments", ok, tc.want.payments)
			_, ok = doc["service_cases"]
			check("service_cases", ok, tc.want.cases)
			_, ok = doc["open_balance"]
			check("open_balance", ok, tc.want.balance)
			_, ok = doc["customer"].(map[string]any)["credit_limit"]
			check("customer.credit_limit", ok, tc.want.credit)
			_, ok = doc["sources"].([]any)[0].(map[string]any)["record"].(map[string]any)["credit_limit"]
			check("sources[0].record.credit_limit", ok, tc.want.credit)
			_, ok = doc["lineage"].(map[string]any)["credit_limit"]
			check("lineage.credit_limit", ok, tc.want.credit)
			if _, ok := doc["customer"].(map[string]any)["organization_name"]; !ok {
				t.Errorf("%s %s: the customer itself is missing", tc.caller, where)
			}
		}
		// last_contact only from what the caller may see.
		wantLast := ""
		switch {
		case tc.want.payments:
			wantLast = "2026-02-20T00:00:00Z"
		case tc.want.cases:
			wantLast = "2026-02-10T09:30:00Z"
		case tc.want.orders:
			wantLast = "2026-02-01T00:00:00Z"
		}
		if got, _ := one["last_contact"].(string); got != wantLast {
			t.Errorf("%s: last_contact %q, want %q", tc.caller, got, wantLast)
		}
	}
	// Asking for a list the scope does not cover is refused, not answered partly.
	for _, tc := range []struct{ caller, query string }{
		{"sales", "payments_limit=1"}, {"finance", "orders_cursor=x"}, {"service", "orders_limit=5"}, {"steward", "service_cases_limit=1"},
	} {
		code, raw := f.do(t, tc.caller, "GET", "/v1/customers/"+id+"?"+tc.query, nil)
		if code != 403 || bytes.Contains(raw, []byte("Schmidt")) {
			t.Errorf("%s ?%s: %d %s, want a bare 403", tc.caller, tc.query, code, raw)
		}
	}
	// The explain route (steward) follows the same field rule.
	code, raw := f.do(t, "steward", "GET", "/v1/customers/"+id+"/explain", nil)
	if code != 200 || !bytes.Contains(raw, []byte(`"credit_limit"`)) {
		t.Errorf("steward explain: %d %s", code, raw)
	}
}

// Revoking a token takes effect on the next request; the steward's actor
// in the audit log is the token's name.
func TestRevocationAndActor(t *testing.T) {
	f := newAuthFixture(t)
	f.apply(t,
		customer("crm", "c1", 1, hub.Customer{Kind: "person", FamilyName: "Schmidt", Emails: []string{"a@example.de"}}),
		customer("svc", "s1", 1, hub.Customer{Kind: "person", FamilyName: "Schmidt", Phones: []string{"+49301234567"}}),
	)
	ids := map[string]string{}
	for _, src := range []string{"crm/c1", "svc/s1"} {
		sys, sid, _ := strings.Cut(src, "/")
		var page struct{ Items []struct{ ID string } }
		_, raw := f.do(t, "admin", "GET", "/v1/customers?system="+sys+"&source_id="+sid, nil)
		_ = json.Unmarshal(raw, &page)
		ids[src] = page.Items[0].ID
	}
	f.secret["anna"] = f.create(t, "anna.steward", auth.ScopeSteward)
	code, raw := f.do(t, "anna", "POST", "/v1/customers/"+ids["crm/c1"]+"/merge", map[string]string{"with": ids["svc/s1"], "reason": "same person"})
	if code != 200 {
		t.Fatalf("merge: %d %s", code, raw)
	}
	var surv struct{ Survivor string }
	_ = json.Unmarshal(raw, &surv)
	var audit struct{ Items []hub.AuditEntry }
	_, raw = f.do(t, "anna", "GET", "/v1/customers/"+surv.Survivor+"/audit", nil)
	if err := json.Unmarshal(raw, &audit); err != nil || len(audit.Items) != 1 || audit.Items[0].Actor != "anna.steward" {
		t.Fatalf("audit: %s", raw)
	}
	if _, err := f.tokens.Revoke(context.Background(), "anna.steward"); err != nil {
		t.Fatal(err)
	}
	if code, raw := f.do(t, "anna", "GET", "/v1/customers/"+surv.Survivor+"/audit", nil); code != 401 {
		t.Fatalf("revoked token: %d %s", code, raw)
	}
	// A merged id still needs a token before it redirects.
	loser := ids["crm/c1"]
	if loser == surv.Survivor {
		loser = ids["svc/s1"]
	}
	if code, _ := f.do(t, "", "GET", "/v1/customers/"+loser, nil); code != 401 {
		t.Fatalf("merged id without token: %d, want 401", code)
	}
	if code, _ := f.do(t, "service", "GET", "/v1/customers/"+loser, nil); code != 301 {
		t.Fatalf("merged id with token: %d, want 301", code)
	}
	// Other schemes and a bare token are not bearer tokens.
	for _, h := range []string{"Basic " + f.secret["admin"], f.secret["admin"], "Bearer "} {
		req, _ := http.NewRequest("GET", f.srv.URL+"/v1/changes", nil)
		req.Header.Set("Authorization", h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: %d %q", h[:min(len(h), 8)], resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// A broken token store fails closed: 503, never an open door.
func TestTokenStoreDownFailsClosed(t *testing.T) {
	f := newAuthFixture(t)
	f.tokens.Close()
	if code, raw := f.do(t, "admin", "GET", "/v1/changes", nil); code != 503 {
		t.Fatalf("token store closed: %d %s", code, raw)
	}
	if code, _ := f.do(t, "", "GET", "/healthz", nil); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
}
