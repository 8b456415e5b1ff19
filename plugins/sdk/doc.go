// Package sdk is what a crmhub connector is written against.
//
// A connector author implements Source (and/or Destination) with plain Go
// types, declares its parameters once in a Spec, and calls Serve from main.
// The host runs the connector in its own process over gRPC; the author never
// sees the wire. The same Source value can also be used in-process (tests,
// development), and the pipeline cannot tell the difference.
//
// Read batches travel packed (batch.go): over a socket pair the host hands
// the plugin at start (bulk.go), or inline in the gRPC answer where there
// is none. Both processes read ahead one batch, so the plugin produces the
// next batch while the host works on this one.
package sdk
