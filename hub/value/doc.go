// Package value defines the customer value figures (revenue, margin,
// payment behaviour, service, loyalty, lifecycle stage, RFM and ABC
// segments) and computes them from one golden customer's orders,
// payments and service cases. Everything here is a pure function of its
// inputs and a reference time, so the store, the tests and the demo
// generator compute the same figures; docs/value.md holds the
// definitions and edge cases. Facts (facts.go) are a record reduced to
// what Compute reads of it, which the store keeps per record and
// computes the figures from without decoding the records.
package value
