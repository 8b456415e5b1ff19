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
// evaluated without expr's VM (fastexpr.go); everything else runs on it. The function
// library is a registry (Functions) from which `crmhub mapping docs` prints
// the reference and whose examples are run by the tests, so the docs cannot
// drift. RunTest, Suggest and Lint back the
// data engineer's CLI.
package mapping
