// Package sdk is what a crmhub connector is written against.
//
// A connector author implements Source (and/or Destination) with plain Go
// types, declares its parameters once in a Spec, and calls Serve from main.
// The host runs the connector in its own process over gRPC; the author never
// sees the wire. The same Source value can also be used in-process (tests,
// development), and the pipeline cannot tell the difference.
package sdk
