// Package mappingtest runs a mapping on sample records and compares the
// results with an expected file (`crmhub mapping test`, and the golden
// cases of mapping/testdata): one JSON line per record with its output,
// warnings or error, counts of mapped, skipped, deleted and failed
// records, the values dropped with a warning, and the source fields the
// mapping reads that no sample has. It is a tool on the language, above
// it: it reads samples with mapping.ReadInputs, runs Mapping.Apply and
// asks Mapping.Reads.
package mappingtest
