package sqlconn

import "github.com/crmhub/crmhub/plugins/sdk"

// Connector is the declaration of the "sql" source and destination.
var Connector = sdk.Connector{
	Spec: sdk.Spec{
		Name:    "sql",
		Summary: "Reads tables or queries from PostgreSQL, MySQL/MariaDB and SQLite, incrementally by a cursor column; writes back by upsert.",
		Version: "v0.1.0",
		Author:  "crmhub",
		Kinds:   []sdk.Kind{sdk.KindSource, sdk.KindDestination},
		Params: []sdk.Param{
			{Name: "driver", Type: sdk.TypeString, Required: true, Description: "Database kind: `postgres`, `mysql` (also MariaDB) or `sqlite`.", Example: "postgres", OneOf: []string{"postgres", "mysql", "sqlite"}},
			{Name: "dsn", Type: sdk.TypeString, Required: true, Secret: true, Description: "Data source name in the driver's syntax.", Example: "postgres://crmhub@db.local/erp"},
			{Name: "batch_size", Type: sdk.TypeInt, Default: "1000", Description: "Rows per query page (source)."},
			{Name: "timezone", Type: sdk.TypeTimezone, Default: "UTC", Description: "IANA time zone of timestamp columns stored without a zone.", Example: "Europe/Berlin"},
			{Name: "slot", Type: sdk.TypeString, Description: "Source, change_detection logical: the PostgreSQL logical replication slot this source owns (lower-case letters, digits, _), created on the first run.", Example: "crmhub_erp"},
			{Name: "publication", Type: sdk.TypeString, Description: "Source, change_detection logical: the publication of the entities' tables and their children (default: the slot's name), created when missing.", Example: "crmhub_erp"},
			{Name: "state_dir", Type: sdk.TypeString, Description: "Source, change_detection hash: directory where each hash-mode entity keeps its row hashes between runs (about 9 bytes plus the key per row), so a restart publishes only rows changed or deleted while crmhub was stopped; run by the hub it defaults to `<data_dir>/connectors/<instance name>`; without any, a restart republishes every row and misses deletes made meanwhile. Created when missing.", Example: "/var/lib/crmhub/sql-erp"},
			{Name: "entities", Type: sdk.TypeList, Required: true, Description: "Entities to read; each an object with `name`, `table` or `query` (a SELECT, wrapped as a subquery), `key` (unique column: record ID and tie-breaker), optional `cursor` (updated-at or row-version column), `deleted` (soft-delete column; a truthy value emits a delete), `key_scan_interval` (duration; a periodic key scan emits deletes for keys gone from the source) and `cursor_overlap` (duration, default 2m: a caught-up reader re-reads this far behind its timestamp cursor, so rows committed late or written with an older time are still read; cursor values in the future of the database's clock are read once and never move the position), `change_detection` (`hash` for tables without a change column: re-read every `rescan_interval`, only changed rows and deletes published) and `children` (child tables gathered into an array field of each parent record). As a destination: `name`, `table`, `key` (the upsert conflict column), `columns` (allow-list of the columns crmhub may write; a record with any other field is refused), optional `deleted` (a delete sets this column to true instead of deleting the row) and `version_column` (the row's updated-at column: a write then only updates a row not changed since the version the hub last read, else its result is a conflict and nothing is written; every write sets it from the database's clock; list it in the target's `touch` fields too).", Fields: entityFields},
		},
	},
	NewSource:      func() sdk.Source { return &Source{} },
	NewDestination: func() sdk.Destination { return &Destination{} },
}
