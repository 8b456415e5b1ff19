// Package httpapi serves the hub over HTTP: the customer 360 read API
// (/v1/customers), health and readiness probes, and Prometheus metrics.
// It depends only on hub.Store, so any store implementation serves it.
// Errors are JSON with a stable code: {"error":{"code":"not_found","message":"..."}}.
//
// With Options.Auth every route but the probes, /metrics and the OpenAPI
// document needs a bearer token (auth.go); scopes.go is the whole access
// policy: which scope calls which route, and which parts of a customer it
// sees (hidden parts are absent from the JSON).
//
// A customer's orders, payments and service cases are paged by the store
// (hub.Store.FindCustomer360), each list with its own opaque cursor, and
// the store is asked only for the lists the caller may see: a request
// costs a page, not the customer's whole history.
package httpapi
