// Package rest is the built-in "rest" source connector: generic JSON over
// HTTP for SaaS CRMs and modern ERPs.
//
// Each entity is an endpoint whose response holds an array of records at a
// dot path. A poll is one pass over all pages (page number, offset, cursor
// token or Link header); with a since parameter, a pass asks only for records
// changed since the last pass's newest updated_at minus a safety overlap.
// Records seen unchanged within the overlap are not emitted again. Requests
// are rate limited, retried with backoff on 429 and 5xx (honouring
// Retry-After) and authenticated by API key, basic, bearer or OAuth2 client
// credentials.
package rest
