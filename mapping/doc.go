// Package mapping turns source records into canonical crmhub records.
//
// A mapping is a YAML file (see SPEC.md) naming its source system and
// entity, its canonical target and an ordered list of target paths with
// expr-lang expressions over the source record. LoadFile and LoadDir compile
// every expression once and report all load problems as "file:line: field:
// message"; (*Mapping).Apply maps one record, validates the result against
// the canonical JSON Schema and returns a *RecordError naming the record and
// field when it cannot. A compiled check of the schema files proves the
// common valid document valid; gojsonschema, the validator of record,
// judges every other one and names the violations (PERF.md has the
// figures and how the fast paths are held to the slow ones). A field that
// compiles to a field, a constant or one function call on those is
// evaluated without expr's VM (fastexpr.go); everything else runs on it.
//
// The package is the language: parsing, compiling, paths, Apply. What it is
// built from lives below it: the value functions in mapping/funcs (plain Go,
// no dependency on the language), the JSON codec in
// mapping/internal/jsonfast and the compiled schema check in
// mapping/internal/validate. funcs.go binds the library to the language: a
// registry (Functions) of names, signatures, argument types, compile-time
// checks that take the *Mapping or expr's AST, the warnings that drop a
// value, and examples, from which `crmhub mapping docs` prints the
// reference and whose examples the tests run, so the docs cannot drift.
// The target shape of the compile-time path checks (schema.go) stays here:
// it walks the language's path segments. RunTest and Lint back the data
// engineer's CLI; mapping/suggest, a tool above the language, proposes a
// first mapping through the hooks in hooks.go.
package mapping
