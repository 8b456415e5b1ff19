package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// queryParams is, per route pattern ("GET /v1/customers"), the query
// parameters the OpenAPI document declares: the document is the one list,
// so what the API accepts and what it documents cannot drift apart.
var queryParams = func() map[string][]string {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]openapiParam `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		panic(fmt.Sprintf("openapi.json: %v", err))
	}
	resolve := func(ps []openapiParam) []string {
		var out []string
		for _, p := range ps {
			if p.Ref != "" {
				p = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
			}
			if p.In == "query" {
				out = append(out, p.Name)
			}
		}
		return out
	}
	out := map[string][]string{}
	for path, ops := range doc.Paths {
		var common []openapiParam
		if raw, ok := ops["parameters"]; ok {
			_ = json.Unmarshal(raw, &common)
		}
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				Parameters []openapiParam `json:"parameters"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				panic(fmt.Sprintf("openapi.json %s %s: %v", method, path, err))
			}
			names := resolve(append(slices.Clone(common), op.Parameters...))
			slices.Sort(names)
			out[strings.ToUpper(method)+" "+path] = names
		}
	}
	return out
}()

type openapiParam struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

// checkParams answers 400 for a query parameter the route does not declare
// (a misspelt ?emial= would otherwise return the first page of everyone),
// listing the ones it takes. Routes the document does not describe (the
// profiles) are not checked.
func checkParams(pattern string, h http.Handler) http.Handler {
	allowed, ok := queryParams[pattern]
	if !ok {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for name := range r.URL.Query() {
			if !slices.Contains(allowed, name) {
				valid := "none"
				if len(allowed) > 0 {
					valid = strings.Join(allowed, ", ")
				}
				writeError(w, http.StatusBadRequest, CodeInvalidArgument,
					fmt.Sprintf("unknown query parameter %q on %s; valid: %s", clip(name, 64), pattern, valid))
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// clip shortens s to at most n bytes for an error message: a message never
// echoes a large input back (a 100 KB id in a 404).
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d bytes)", len(s))
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
