// Package layers holds the import-layer test: the allowed layering of the
// module's packages, as a table (layers.go) that ARCHITECTURE.md repeats,
// and a test that fails when a package imports one in a higher layer or a
// package is in no layer. It has no code anything imports.
package layers
