package console

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

// Prefix is the path the console is served under.
const Prefix = "/console/"

// Options configure the console.
type Options struct {
	// AuthRequired says the API needs a token: the console then asks for
	// one. Without it the console opens as LocalActor.
	AuthRequired bool
	// LocalActor names who acts when authentication is off.
	LocalActor string
}

// config is what the script learns from /console/config.json.
type config struct {
	AuthRequired bool   `json:"auth_required"`
	LocalActor   string `json:"local_actor,omitempty"`
}

// Assets returns the console's embedded files (index.html, app.js,
// style.css).
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// Handler serves the console's assets under Prefix.
func Handler(opts Options) http.Handler {
	sub := Assets()
	cfg, err := json.Marshal(config{AuthRequired: opts.AuthRequired, LocalActor: opts.LocalActor})
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix(Prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		securityHeaders(w.Header())
		switch r.URL.Path {
		case Prefix + "config.json":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(cfg)
			return
		case Prefix + "index.html":
			// The file server would redirect it to the directory; one URL only.
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// securityHeaders: the console loads only its own files and talks only to
// its own origin, so a value that slipped past the script's escaping still
// could not load or send anything elsewhere.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// Assets change with the binary; revalidate rather than run an old script.
	h.Set("Cache-Control", "no-cache")
}

// Mount serves the console under Prefix (and /console without the slash)
// and everything else with api.
func Mount(api http.Handler, opts Options) http.Handler {
	c := Handler(opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/console" || r.URL.Path == "/":
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, Prefix, http.StatusFound)
				return
			}
		case strings.HasPrefix(r.URL.Path, Prefix):
			c.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
