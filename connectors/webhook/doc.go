// Package webhook is the built-in "webhook" source connector: an HTTP
// endpoint that systems push JSON events to.
//
// Each request is checked against an HMAC-SHA256 signature over the
// timestamp and body (constant-time compare, timestamp tolerance against
// replay), limited in size, deduplicated by event id, and answered 2xx only
// after the host acknowledged the record, that is once it is durable on
// Kafka; a sender that gets no 2xx retries.
package webhook
