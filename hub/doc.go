// Package hub holds crmhub's domain: the canonical envelope that travels on
// Kafka, dead letters, golden customers, and the Store interface that the
// technology packages below it implement (hub/store for SQLite and
// PostgreSQL, hub/bus for Kafka, hub/httpapi for the HTTP API,
// hub/pipeline for the runtime that wires them).
package hub
