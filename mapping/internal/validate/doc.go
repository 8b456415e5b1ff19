// Package validate is the compiled check of crmhub's canonical JSON
// schemas: For returns a Schema compiled from the very schema files
// gojsonschema reads (package schemas), and Schema.Check answers Valid,
// Invalid or Unknown. Only Valid lets the mapping engine skip gojsonschema,
// which stays the validator of record and writes the violations.
//
// The pattern matchers (patterns.go) are the schemas' fixed patterns by
// hand. The target shape used by the mapping's compile-time path checks
// (mapping/schema.go) stays in mapping: it works on the language's path
// segments.
package validate
