// Package connectors lists crmhub's built-in source connectors. Each lives in
// its own folder (sql, file, rest, webhook) with its declaration, README and
// tests; Builtins is what the host registers and what the crmhub binary
// serves when it re-executes itself as a connector plugin.
package connectors
