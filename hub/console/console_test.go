package console_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub/console"
)

// TestAssets serves every page and asset from the embedded files with the
// headers that keep the console to its own origin, and passes everything
// outside /console/ to the API.
func TestAssets(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Api", "yes")
		w.WriteHeader(http.StatusTeapot)
	})
	srv := httptest.NewServer(console.Mount(api, console.Options{AuthRequired: false, LocalActor: "local"}))
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	cases := []struct {
		path, method string
		status       int
		ctype        string // prefix
		location     string
		api          bool
	}{
		{path: "/console/", status: 200, ctype: "text/html"},
		{path: "/console/app.js", status: 200, ctype: "text/javascript"},
		{path: "/console/style.css", status: 200, ctype: "text/css"},
		{path: "/console/config.json", status: 200, ctype: "application/json"},
		{path: "/console/index.html", status: 301, location: "/console/"},
		{path: "/console", status: 302, location: "/console/"},
		{path: "/", status: 302, location: "/console/"},
		{path: "/console/nope.js", status: 404},
		{path: "/console/app.js", method: "POST", status: 405},
		{path: "/v1/customers", status: http.StatusTeapot, api: true},
		{path: "/", method: "POST", status: http.StatusTeapot, api: true},
	}
	for _, c := range cases {
		t.Run(c.method+c.path, func(t *testing.T) {
			req, _ := http.NewRequest(or(c.method, "GET"), srv.URL+c.path, nil)
			res, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			_, _ = io.Copy(io.Discard, res.Body)
			if res.StatusCode != c.status {
				t.Errorf("status %d, want %d", res.StatusCode, c.status)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, c.ctype) {
				t.Errorf("Content-Type %q, want %q", ct, c.ctype)
			}
			if loc := res.Header.Get("Location"); loc != c.location {
				t.Errorf("Location %q, want %q", loc, c.location)
			}
			if got := res.Header.Get("X-Api") == "yes"; got != c.api {
				t.Errorf("served by the API: %v, want %v", got, c.api)
			}
			if !c.api && c.status == 200 && !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("no restrictive Content-Security-Policy: %q", res.Header.Get("Content-Security-Policy"))
			}
		})
	}

	res, err := http.Get(srv.URL + "/console/config.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var cfg map[string]any
	if err := json.NewDecoder(res.Body).Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["auth_required"] != false || cfg["local_actor"] != "local" {
		t.Errorf("config.json = %v", cfg)
	}
}

// TestNothingFromTheInternet: the assets reference no other origin, and
// the script never writes HTML from strings (every API value goes in as
// text).
func TestNothingFromTheInternet(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	unsafe := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function`)
	err := fs.WalkDir(console.Assets(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(console.Assets(), path)
		if err != nil {
			return err
		}
		if m := remote.Find(b); m != nil {
			t.Errorf("%s references another origin: %s", path, m)
		}
		if m := unsafe.Find(b); m != nil {
			t.Errorf("%s uses %s", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
