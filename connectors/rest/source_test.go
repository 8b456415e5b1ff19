package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub/connectors/internal/readme"
	"github.com/crmhub/crmhub/plugins/sdk"
)

func TestREADME(t *testing.T) { readme.Check(t, Connector.Spec, "README.md") }

type contact struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	UpdatedAt string `json:"updated_at"`
}

// api is an httptest CRM that behaves like the real ones: OAuth2 client
// credentials, pages, a since filter, throttling and a flaky backend.
type api struct {
	mu          sync.Mutex
	contacts    []contact
	tokens      map[string]bool
	issued      int
	throttleOn  map[string]int // request key -> 429s still to send
	failOn      map[string]int // request key -> 500s still to send
	revokeAfter int            // revoke all tokens after this many data requests
	requests    []string
	served      map[int]int // status -> count
}

func newAPI(n int) *api {
	a := &api{tokens: map[string]bool{}, throttleOn: map[string]int{}, failOn: map[string]int{}, served: map[int]int{}}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		// Pairs of contacts share an updated_at.
		a.contacts = append(a.contacts, contact{ID: fmt.Sprintf("c%03d", i), Email: fmt.Sprintf("p%d@example.com", i), UpdatedAt: base.Add(time.Duration(i/2) * time.Hour).Format(time.RFC3339)})
	}
	return a
}

func (a *api) status(w http.ResponseWriter, code int) {
	a.served[code]++
	w.WriteHeader(code)
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.URL.Path == "/oauth/token" {
		r.ParseForm()
		id, secret, _ := r.BasicAuth()
		if id == "" {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != "crmhub" || secret != "s3cret" || r.PostForm.Get("grant_type") != "client_credentials" {
			a.status(w, http.StatusUnauthorized)
			return
		}
		a.issued++
		tok := "tok" + strconv.Itoa(a.issued)
		a.tokens[tok] = true
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
		return
	}
	a.requests = append(a.requests, r.URL.RequestURI())
	if !a.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] && r.Header.Get("X-API-Key") != "k3y" {
		a.status(w, http.StatusUnauthorized)
		return
	}
	if a.revokeAfter > 0 && len(a.requests) == a.revokeAfter {
		clear(a.tokens) // token "expires" server-side before its expiry time
	}
	key := r.URL.Query().Get("page") + r.URL.Query().Get("cursor") + r.URL.Query().Get("offset")
	if a.throttleOn[key] > 0 {
		a.throttleOn[key]--
		w.Header().Set("Retry-After", "1")
		a.status(w, http.StatusTooManyRequests)
		return
	}
	if a.failOn[key] > 0 {
		a.failOn[key]--
		a.status(w, http.StatusInternalServerError)
		return
	}
	var rows []contact
	since := r.URL.Query().Get("updated_since")
	for _, c := range a.contacts {
		if since == "" || c.UpdatedAt >= since {
			rows = append(rows, c)
		}
	}
	q := r.URL.Query()
	size, _ := strconv.Atoi(q.Get("per_page"))
	if size == 0 {
		size, _ = strconv.Atoi(q.Get("limit"))
	}
	if size == 0 {
		size = 10
	}
	start := 0
	switch r.URL.Path {
	case "/api/v1/contacts":
		page, _ := strconv.Atoi(q.Get("page"))
		start = (page - 1) * size
	case "/api/tickets", "/api/linked":
		start, _ = strconv.Atoi(q.Get("cursor"))
	case "/api/offset":
		start, _ = strconv.Atoi(q.Get("offset"))
	default:
		a.status(w, http.StatusNotFound)
		return
	}
	end := min(start+size, len(rows))
	page := []contact{}
	if start < len(rows) {
		page = rows[start:end]
	}
	a.served[200]++
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/api/v1/contacts":
		json.NewEncoder(w).Encode(map[string]any{"data": page, "total_pages": (len(rows) + size - 1) / size})
	case "/api/tickets":
		next := ""
		if end < len(rows) {
			next = strconv.Itoa(end)
		}
		json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{"tickets": page}, "next_cursor": next})
	case "/api/linked":
		if end < len(rows) {
			w.Header().Set("Link", fmt.Sprintf(`</api/linked?cursor=%d&limit=%d>; rel="next", </api/linked>; rel="first"`, end, size))
		}
		json.NewEncoder(w).Encode(page)
	case "/api/offset":
		json.NewEncoder(w).Encode(map[string]any{"items": page})
	}
}

func newSource(t *testing.T, cfg sdk.Config, pos sdk.Position) *Source {
	t.Helper()
	s := &Source{backoff: 10 * time.Millisecond}
	ctx := context.Background()
	if err := s.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx, pos); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Teardown(context.Background()) })
	return s
}

func drain(t *testing.T, s *Source) []sdk.Record {
	t.Helper()
	var out []sdk.Record
	for i := 0; i < 1000; i++ {
		recs, err := s.Read(context.Background(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
	}
	t.Fatal("never caught up")
	return nil
}

func ids(recs []sdk.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func TestPagesThrottlingTokenExpiryAndIncremental(t *testing.T) {
	a := newAPI(23)
	a.throttleOn["2"] = 1 // page 2 throttled once
	a.failOn["3"] = 2     // page 3 fails twice
	a.revokeAfter = 2     // token revoked after the second data request
	srv := httptest.NewServer(a)
	defer srv.Close()
	cfg := sdk.Config{"base_url": srv.URL, "rate_limit": "200",
		"auth": map[string]any{"type": "oauth2", "token_url": srv.URL + "/oauth/token", "client_id": "crmhub", "client_secret": "s3cret"},
		"entities": []any{map[string]any{"name": "contacts", "path": "/api/v1/contacts", "records": "data", "id": "id", "updated_at": "updated_at",
			"since_param": "updated_since", "overlap": "1h",
			"pagination": map[string]any{"type": "page", "param": "page", "size_param": "per_page", "size": 5, "total_pages_path": "total_pages"}}}}
	s := newSource(t, cfg, nil)
	start := time.Now()
	recs := drain(t, s)
	want := make([]string, 23)
	for i := range want {
		want[i] = fmt.Sprintf("c%03d", i+1)
	}
	if got := ids(recs); !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
	if time.Since(start) < time.Second {
		t.Errorf("Retry-After: 1 was not honoured (took %v)", time.Since(start))
	}
	if a.served[429] != 1 || a.served[500] != 2 || a.issued < 2 || a.served[401] < 1 {
		t.Errorf("served %v, tokens issued %d", a.served, a.issued)
	}
	if slices.Contains(a.requests, "/api/v1/contacts?page=6&per_page=5") {
		t.Error("asked for a page past total_pages")
	}
	var p map[string]any
	json.Unmarshal(recs[len(recs)-1].Position, &p)

	// The next pass asks since the newest updated_at minus the overlap and
	// emits nothing unchanged.
	a.requests = nil
	if recs := drain(t, s); len(recs) != 0 {
		t.Fatalf("unchanged pass emitted %v", ids(recs))
	}
	if len(a.requests) == 0 || !strings.Contains(a.requests[0], "updated_since=2024-01-01T10%3A00%3A00Z") {
		t.Fatalf("incremental request %v", a.requests)
	}
	// A change is picked up, alone.
	a.mu.Lock()
	a.contacts[4].UpdatedAt = "2024-02-01T00:00:00Z"
	a.mu.Unlock()
	changed := drain(t, s)
	if got := ids(changed); !slices.Equal(got, []string{"c005"}) {
		t.Fatalf("changed %v", got)
	}
	// After a restart from the last acked position, only the overlap window
	// is read again, never the whole set.
	s2 := newSource(t, cfg, changed[0].Position)
	again := drain(t, s2)
	if len(again) == 0 || len(again) > 3 {
		t.Fatalf("after restart %v", ids(again))
	}
}

func TestPaginationKinds(t *testing.T) {
	a := newAPI(12)
	srv := httptest.NewServer(a)
	defer srv.Close()
	want := ids(func() []sdk.Record {
		var r []sdk.Record
		for _, c := range a.contacts {
			r = append(r, sdk.Record{ID: c.ID})
		}
		return r
	}())
	cases := map[string]map[string]any{
		"cursor": {"path": "/api/tickets", "records": "result.tickets", "pagination": map[string]any{"type": "cursor", "cursor_path": "next_cursor", "size_param": "limit", "size": 5}},
		"link":   {"path": "/api/linked?limit=5", "pagination": map[string]any{"type": "link"}},
		"offset": {"path": "/api/offset", "records": "items", "pagination": map[string]any{"type": "offset", "size_param": "limit", "size": 5}},
	}
	for name, ent := range cases {
		t.Run(name, func(t *testing.T) {
			ent["name"], ent["id"] = "tickets", "id"
			s := newSource(t, sdk.Config{"base_url": srv.URL, "rate_limit": "1000", "auth": map[string]any{"type": "api_key", "key": "k3y"}, "entities": []any{ent}}, nil)
			if got := ids(drain(t, s)); !slices.Equal(got, want) {
				t.Fatalf("got %v", got)
			}
		})
	}
}

func TestClientErrorNamesURLWithoutSecrets(t *testing.T) {
	a := newAPI(1)
	srv := httptest.NewServer(a)
	defer srv.Close()
	s := newSource(t, sdk.Config{"base_url": srv.URL, "auth": map[string]any{"type": "api_key", "key": "k3y"}, "max_retries": 1,
		"entities": []any{map[string]any{"name": "x", "path": "/api/missing?access_token=hunter2", "id": "id"}}}, nil)
	_, err := s.Read(context.Background(), 10)
	if err == nil || !errors.Is(err, ErrHTTP) || !strings.Contains(err.Error(), "/api/missing") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("error %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "k3y") {
		t.Fatalf("secret in error: %v", err)
	}
	if len(a.requests) != 1 {
		t.Errorf("a 404 was retried: %v", a.requests)
	}
}

func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Connectors []struct {
			Settings map[string]any `yaml:"settings"`
		} `yaml:"connectors"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range doc.Connectors {
		if err := Connector.NewSource().Configure(context.Background(), c.Settings); err != nil {
			t.Fatal(err)
		}
	}
}

// Read hands out at most max records, and each record's position resumes
// right after it: a restart from any record, mid-page or at a page's end,
// reads the rest of the pass without repeating a record or losing one, for
// page, offset and cursor pagination.
func TestReadMaxAndResumeMidPage(t *testing.T) {
	a := newAPI(12)
	srv := httptest.NewServer(a)
	defer srv.Close()
	all := make([]string, 12)
	for i := range all {
		all[i] = fmt.Sprintf("c%03d", i+1)
	}
	cases := map[string]map[string]any{
		"page":   {"path": "/api/v1/contacts", "records": "data", "pagination": map[string]any{"type": "page", "param": "page", "size_param": "per_page", "size": 5, "total_pages_path": "total_pages"}},
		"offset": {"path": "/api/offset", "records": "items", "pagination": map[string]any{"type": "offset", "size_param": "limit", "size": 5}},
		"cursor": {"path": "/api/tickets", "records": "result.tickets", "pagination": map[string]any{"type": "cursor", "cursor_path": "next_cursor", "size_param": "limit", "size": 5}},
	}
	for name, ent := range cases {
		t.Run(name, func(t *testing.T) {
			ent["name"], ent["id"], ent["updated_at"] = "contacts", "id", "updated_at"
			cfg := sdk.Config{"base_url": srv.URL, "rate_limit": "1000", "auth": map[string]any{"type": "api_key", "key": "k3y"}, "entities": []any{ent}}
			// Stop after 2, 3 (mid-page), 5 (a page's end) and 11 records.
			for _, stop := range []int{2, 3, 5, 11} {
				s := newSource(t, cfg, nil)
				var got []sdk.Record
				for len(got) < stop {
					recs, err := s.Read(context.Background(), 2)
					if err != nil {
						t.Fatal(err)
					}
					if len(recs) == 0 || len(recs) > 2 {
						t.Fatalf("Read(2) returned %d records", len(recs))
					}
					got = append(got, recs...)
				}
				got = got[:stop]
				rest := restOfPass(t, newSource(t, cfg, got[stop-1].Position))
				if ids := append(ids(got), ids(rest)...); !slices.Equal(ids, all) {
					t.Errorf("stopped after %d: read %v", stop, ids)
				}
			}
		})
	}
}

// restOfPass reads until the record that ends the running pass (its
// position resumes nowhere), or until caught up (a pass that ends on an
// empty page).
func restOfPass(t *testing.T, s *Source) []sdk.Record {
	t.Helper()
	var out []sdk.Record
	for range 100 {
		recs, err := s.Read(context.Background(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
		if len(recs) == 0 || !strings.Contains(string(recs[len(recs)-1].Position), `"resume"`) {
			return out
		}
	}
	t.Fatal("the pass never ended")
	return nil
}
