// Package console serves the hub's web console at /console/: sign-in with
// an API token, customer search and the customer 360, the steward's review
// queue, dead letters and connector status, for data stewards and operators.
//
// The console is plain HTML, CSS and one small vanilla script, embedded with
// go:embed. Why not server-rendered templates or a framework:
//
//   - The script calls the same JSON API as every other client, with the
//     same token, so the console can show nothing the token could not read
//     with curl: the scope rules (hub/httpapi/scopes.go) stay in one place,
//     and a field the API leaves out (a service token's credit limit) never
//     reaches the page. Server-side rendering would need a second copy of
//     that policy.
//   - No Node build: nothing to install to run or test it, nothing fetched
//     from the internet (the Content-Security-Policy allows 'self' only).
//
// The token is kept in sessionStorage and sent as "Authorization: Bearer":
// never in a URL (URLs land in access logs, browser history and Referer
// headers) and never in a cookie (a cookie would be sent by the browser on
// its own, which would need CSRF defences on every steward action; a
// header is only sent by the script). sessionStorage ends with the tab.
// With authentication off (the demo) the console opens as the local actor.
//
// The sync status page polls GET /v1/connectors every few seconds rather
// than holding a server-sent event stream: an EventSource cannot send the
// Authorization header, so the token would have to travel in the URL or a
// cookie, which the console never does. Its figures are those of /metrics
// (hub/httpapi.ConnectorStatus says which collector each comes from).
//
// The assets themselves hold no data and are served without a token; a
// hub instance without the api role does not serve them (internal/app/server).
package console
