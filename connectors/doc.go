// Package connectors lists crmhub's built-in connectors. Each lives in its
// own folder (sql, file, rest, webhook) with its declaration, README and
// tests; sql, file and rest are also write-back destinations (upsert, CSV
// export, POST/PATCH). Builtins is what the host registers and what the
// crmhub binary serves when it re-executes itself as a connector plugin.
package connectors
