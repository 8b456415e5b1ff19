package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub/httpapi"
)

// Profiles are served only when asked for, and then only to admin tokens.
func TestProfilingRoutes(t *testing.T) {
	f := newAuthFixture(t)
	on := httptest.NewServer(httpapi.New(f.store, httpapi.Options{Auth: f.tokens, Profiling: true}))
	defer on.Close()
	get := func(base, caller, path string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if caller != "" {
			req.Header.Set("Authorization", "Bearer "+f.secret[caller])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		base, caller, path string
		want               int
	}{
		{on.URL, "admin", "/debug/pprof/", 200},
		{on.URL, "admin", "/debug/pprof/heap?debug=1", 200},
		{on.URL, "steward", "/debug/pprof/heap", 403},
		{on.URL, "", "/debug/pprof/", 401},
		{f.srv.URL, "admin", "/debug/pprof/", 404}, // off by default
	} {
		if got := get(tc.base, tc.caller, tc.path); got != tc.want {
			t.Errorf("%s as %q on %s: %d, want %d", tc.path, tc.caller, map[bool]string{true: "profiling on", false: "default"}[strings.HasPrefix(tc.base, on.URL)], got, tc.want)
		}
	}
}
