// Package retry is how the hub waits between attempts: one exponential
// backoff with full jitter for every retry loop (the pipeline's runners,
// the plugin host's restarts, the HTTP client of the API connectors) and a
// sleep that ends with its context.
package retry
