// Package config reads crmhub's one YAML file. Unknown keys and wrong types
// are errors naming the file, line and key, never silent defaults; ${VAR}
// and ${VAR:-default} are expanded from the environment so secrets stay out
// of the file; relative paths are resolved against the file's directory.
// LoadChecked checks the file whole, connectors' and targets' settings
// (nested ones included) against their declarations too, and reports every
// problem at once; Problems lists them one a line in file order.
//
// memory_mb is the hub's one memory setting: Memory splits it between
// SQLite's caches, the record cache, the applier's transactions, Kafka
// fetches and Go's heap (MemoryBudget says how and why).
package config
