// Package httpapi serves the hub over HTTP: the customer 360 read API
// (/v1/customers), health and readiness probes, and Prometheus metrics.
// It depends only on hub.Store, so any store implementation serves it.
// Errors are JSON with a stable code: {"error":{"code":"not_found","message":"..."}}.
package httpapi
