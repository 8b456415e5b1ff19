package rest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// totalAPI lists n contacts in pages and states the total the way the
// case asks: as a number, a string, or not at all.
type totalAPI struct {
	mu      sync.Mutex
	n       int
	total   func(n int) any // nil: no total in the response
	queries []string
}

func (a *totalAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.queries = append(a.queries, r.URL.RawQuery)
	size, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	var items []map[string]string
	for i := (page-1)*size + 1; i <= min(a.n, page*size); i++ {
		items = append(items, map[string]string{"id": "c" + strconv.Itoa(i)})
	}
	meta := map[string]any{}
	if a.total != nil {
		meta["total"] = a.total(a.n)
	}
	json.NewEncoder(w).Encode(map[string]any{"data": items, "meta": meta})
}

func countSource(t *testing.T, url string, totalPath string) *Source {
	t.Helper()
	ent := map[string]any{"name": "contacts", "path": "/v1/contacts?active=1", "records": "data", "id": "id",
		"pagination": map[string]any{"type": "page", "size_param": "per_page", "size": 50}}
	if totalPath != "" {
		ent["total_path"] = totalPath
	}
	s := Connector.NewSource().(*Source)
	ctx := context.Background()
	if err := s.Configure(ctx, sdk.Config{"base_url": url, "rate_limit": "1000", "max_retries": 0, "entities": []any{ent}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCount(t *testing.T) {
	tests := []struct {
		name      string
		total     func(n int) any
		totalPath string
		want      int64
		wantErr   string // substring; "unsupported" means ErrNotSupported
	}{
		{name: "number", total: func(n int) any { return n }, totalPath: "meta.total", want: 137},
		{name: "string", total: func(n int) any { return strconv.Itoa(n) }, totalPath: "meta.total", want: 137},
		{name: "float", total: func(n int) any { return float64(n) }, totalPath: "meta.total", want: 137},
		{name: "absent", totalPath: "meta.total", wantErr: `response has no "meta.total"`},
		{name: "not a number", total: func(int) any { return "many" }, totalPath: "meta.total", wantErr: `meta.total is "many", not a count`},
		{name: "negative", total: func(int) any { return -3 }, totalPath: "meta.total", wantErr: "negative"},
		{name: "no total_path", total: func(n int) any { return n }, wantErr: "unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &totalAPI{n: 137, total: tt.total}
			srv := httptest.NewServer(api)
			defer srv.Close()
			s := countSource(t, srv.URL, tt.totalPath)
			n, err := s.Count(context.Background(), "contacts")
			switch {
			case tt.wantErr == "unsupported":
				if !errors.Is(err, sdk.ErrNotSupported) {
					t.Fatalf("want ErrNotSupported, got %d, %v", n, err)
				}
				if len(api.queries) != 0 {
					t.Errorf("an unsupported count must not call the API: %v", api.queries)
				}
				return
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "contacts") {
					t.Fatalf("want an error naming the entity and %q, got %d, %v", tt.wantErr, n, err)
				}
				return
			case err != nil || n != tt.want:
				t.Fatalf("count = %d, %v; want %d", n, err, tt.want)
			}
			// One request for the first page, as small as the API allows,
			// keeping the path's own query.
			if len(api.queries) != 1 || !strings.Contains(api.queries[0], "per_page=1") || !strings.Contains(api.queries[0], "page=1") || !strings.Contains(api.queries[0], "active=1") {
				t.Errorf("count requests = %v, want one first page of size 1", api.queries)
			}
		})
	}
}

func TestCountUnknownEntityAndKeys(t *testing.T) {
	srv := httptest.NewServer(&totalAPI{n: 3})
	defer srv.Close()
	s := countSource(t, srv.URL, "meta.total")
	if _, err := s.Count(context.Background(), "orders"); !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("count of an entity that is not configured: want ErrNotSupported, got %v", err)
	}
	if _, err := s.Keys(context.Background(), "contacts", "", 10); !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("keys: want ErrNotSupported, got %v", err)
	}
}
