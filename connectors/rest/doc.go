// Package rest is the built-in "rest" source connector: generic JSON over
// HTTP for SaaS CRMs and modern ERPs.
//
// Each entity is an endpoint whose response holds an array of records at a
// dot path. A poll is one pass over all pages (page number, offset, cursor
// token or Link header); with a since parameter, a pass asks only for records
// changed since the last pass's newest updated_at minus a safety overlap.
// Records seen unchanged are not emitted again; with state_dir their
// fingerprints outlive a restart (state.go), and deletes: missing turns the
// records a complete pass no longer returns into deletes. Requests
// are rate limited, retried with backoff on 429 and 5xx (honouring
// Retry-After) and authenticated by API key, basic, bearer or OAuth2 client
// credentials.
package rest
