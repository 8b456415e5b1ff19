// Package bus is crmhub's Kafka bus: every message the hub publishes or
// consumes goes through it, over the Kafka protocol with
// github.com/segmentio/kafka-go.
//
// With no brokers configured, Open starts an embedded Kafka-protocol broker
// (github.com/twmb/franz-go/pkg/kfake) that persists to a data directory and
// listens on a local TCP address; the bus then talks to it exactly like to an
// external cluster, so kcat and other Kafka tools can read the same topics.
// With brokers configured it connects to that cluster, optionally with TLS
// and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
//
// Publish is synchronous and waits for acks=all, so a caller may checkpoint a
// source position once Publish returned nil. Consumers are group members
// that start at the earliest offset for a new group and commit explicitly,
// so the hub commits only what its store has committed (at-least-once).
//
// Ping (the hub's /readyz) and a background probe every HealthInterval ask
// the brokers themselves on a new connection whether they answer, and keep
// crmhub_bus_up: kafka-go's client serves metadata from its cache, so it
// cannot tell a broker that went away. While the brokers are away, Publish
// and Fetch fail and their callers retry; nothing is dead-lettered for it.
package bus
