package sqlconn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Config is the typed form of the "sql" parameters of a source. Its tags,
// with DestConfig's for the keys only a destination reads, declare the
// parameters (Connector in connector.go).
type Config struct {
	Driver    string "json:\"driver\" param:\"required\" oneof:\"postgres|mysql|sqlite\" doc:\"Database kind: `postgres`, `mysql` (also MariaDB) or `sqlite`.\" example:\"postgres\""
	DSN       string `json:"dsn" param:"required,secret" doc:"Data source name in the driver's syntax." example:"postgres://crmhub@db.local/erp"`
	BatchSize int    `json:"batch_size" default:"1000" doc:"Rows per query page (source)."`
	Timezone  string `json:"timezone" type:"timezone" default:"UTC" doc:"IANA time zone of timestamp columns stored without a zone." example:"Europe/Berlin"`
	// Slot and Publication name the replication slot and publication of
	// change_detection: logical (PostgreSQL); Publication defaults to Slot.
	Slot        string `json:"slot" doc:"Source, change_detection logical: the PostgreSQL logical replication slot this source owns (lower-case letters, digits, _), created on the first run." example:"crmhub_erp"`
	Publication string `json:"publication" doc:"Source, change_detection logical: the publication of the entities' tables and their children (default: the slot's name), created when missing." example:"crmhub_erp"`
	// StateDir keeps the row hashes of change_detection: hash entities
	// between runs.
	StateDir string         "json:\"state_dir\" doc:\"Source, change_detection hash: directory where each hash-mode entity keeps its row hashes between runs (about 9 bytes plus the key per row), so a restart publishes only rows changed or deleted while crmhub was stopped; run by the hub it defaults to `<data_dir>/connectors/<instance name>`; without any, a restart republishes every row and misses deletes made meanwhile. Created when missing.\" example:\"/var/lib/crmhub/sql-erp\""
	Entities []EntityConfig `json:"entities" param:"required" doc:"Entities to read or write; the keys of an item follow."`
}

// logical reports whether the source reads a PostgreSQL replication
// stream (every entity then has change_detection: logical).
func (c Config) logical() bool {
	return len(c.Entities) > 0 && c.Entities[0].ChangeDetection == "logical"
}

// EntityConfig is one item of `entities` for a source.
type EntityConfig struct {
	Name            string       "json:\"name\" param:\"required\" doc:\"Entity name records carry (the mapping's source entity).\""
	Table           string       "json:\"table\" doc:\"Table to read or write; a source sets this or `query`.\""
	Query           string       `json:"query" doc:"Source: a SELECT to read instead of a table, wrapped as a subquery."`
	Key             string       `json:"key" param:"required" doc:"Unique column: record ID and keyset tie-breaker; a destination's upsert conflict column."`
	Cursor          string       `json:"cursor" doc:"Source: updated-at or row-version column read incrementally."`
	Deleted         string       `json:"deleted" doc:"Soft-delete column: a truthy value reads as a delete; a destination sets it to true instead of deleting the row."`
	KeyScanInterval sdk.Duration `json:"key_scan_interval" doc:"Source: how often a key scan emits deletes for keys gone from the table."`
	// CursorOverlap is how far behind its position a caught-up reader
	// looks again for rows whose timestamp cursor sorts before rows
	// already read (a transaction that committed late, a writer that set
	// an older time). Default DefaultCursorOverlap.
	CursorOverlap sdk.Duration `json:"cursor_overlap" doc:"Source: how far behind its timestamp cursor a caught-up reader re-reads (default 2m), so rows committed late or written with an older time are still read; cursor values in the future of the database's clock are read once and never move the position."`
	// ChangeDetection is "cursor" (the default: keyset over cursor or key)
	// or "hash": the table is re-read in key order every RescanInterval
	// and only rows whose content hash changed are published.
	ChangeDetection string       "json:\"change_detection\" oneof:\"cursor|hash|logical\" doc:\"Source: `cursor` (default: keyset over cursor or key), `hash`: re-read the table in key order every `rescan_interval`, publish only new or changed rows (by content hash, children included) and deletes for keys gone, or `logical` (PostgreSQL): a consistent snapshot, then inserts, updates, deletes and child-row changes from a logical replication slot (source params `slot`, `publication`); every entity of the source then uses it.\""
	RescanInterval  sdk.Duration `json:"rescan_interval" doc:"Source, hash mode: how often the table is re-read and compared (default 5m)."`
	// Children are gathered into an array field of each parent record.
	Children []ChildConfig `json:"children" doc:"Source: child tables gathered into an array field of each parent record."`
}

// ChildConfig is one item of an entity's `children`: rows of Table whose
// ParentKey equals the parent's key become the array field Name.
type ChildConfig struct {
	Name      string `json:"name" param:"required" doc:"Field of the parent record holding the child rows (an array)."`
	Table     string `json:"table" param:"required" doc:"Child table."`
	Key       string `json:"key" param:"required" doc:"Unique column of the child table."`
	ParentKey string `json:"parent_key" param:"required" doc:"Child column holding the parent's key."`
	OrderBy   string `json:"order_by" doc:"Column ordering the children in the array (default key)."`
	Cursor    string `json:"cursor" doc:"Child updated-at column: with cursor polling, a child row whose cursor moved republishes its parent."`
}

// DefaultRescanInterval is how often a hash-mode entity is re-read.
const DefaultRescanInterval = 5 * time.Minute

// DefaultCursorOverlap is the re-read window of a timestamp cursor.
const DefaultCursorOverlap = 2 * time.Minute

// checkShared checks what a source's and a destination's configuration
// declare alike: the driver, the timezone and the entities' names, which
// must be there and unique. wheres names each entity for its errors (by
// name, or by index where it has none).
func checkShared(driver, timezone string, names []string) (loc *time.Location, wheres []string, errs []error) {
	if _, ok := dialects[driver]; !ok {
		errs = append(errs, fmt.Errorf("sql: driver %q: want postgres, mysql or sqlite", driver))
	}
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		errs = append(errs, fmt.Errorf("sql: timezone %q: %w", timezone, err))
	}
	if len(names) == 0 {
		errs = append(errs, errors.New("sql: entities: at least one entity is required"))
	}
	seen := map[string]bool{}
	for i, name := range names {
		where := fmt.Sprintf("sql: entities[%d]", i)
		if name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", where))
		} else {
			where = fmt.Sprintf("sql: entity %q", name)
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name", where))
		}
		seen[name] = true
		wheres = append(wheres, where)
	}
	return loc, wheres, errs
}

// parseConfig validates cfg against the declaration and checks what the
// declaration cannot express, reporting every problem at once.
func parseConfig(cfg sdk.Config) (Config, *time.Location, error) {
	var c Config
	if err := Connector.Spec.DecodeFor(sdk.KindSource, cfg, &c); err != nil {
		return c, nil, err
	}
	names := make([]string, len(c.Entities))
	for i, e := range c.Entities {
		names[i] = e.Name
	}
	loc, wheres, errs := checkShared(c.Driver, c.Timezone, names)
	if c.BatchSize <= 0 {
		errs = append(errs, fmt.Errorf("sql: batch_size must be positive, got %d", c.BatchSize))
	}
	for i, e := range c.Entities {
		where := wheres[i]
		if (e.Table == "") == (e.Query == "") {
			errs = append(errs, fmt.Errorf("%s: set exactly one of table or query", where))
		}
		if e.Key == "" {
			errs = append(errs, fmt.Errorf("%s: key is required", where))
		}
		if e.KeyScanInterval < 0 {
			errs = append(errs, fmt.Errorf("%s: key_scan_interval must not be negative", where))
		}
		if e.CursorOverlap < 0 {
			errs = append(errs, fmt.Errorf("%s: cursor_overlap must not be negative", where))
		}
		if e.CursorOverlap == 0 {
			c.Entities[i].CursorOverlap = sdk.Duration(DefaultCursorOverlap)
		}
		switch e.ChangeDetection {
		case "", "cursor":
			if e.RescanInterval != 0 {
				errs = append(errs, fmt.Errorf("%s: rescan_interval needs change_detection: hash", where))
			}
		case "hash":
			// The whole table is compared each pass, so a cursor would
			// only hide rows, and deletes are found by the pass itself.
			if e.Cursor != "" {
				errs = append(errs, fmt.Errorf("%s: change_detection hash reads every row by key; remove cursor", where))
			}
			if e.KeyScanInterval != 0 {
				errs = append(errs, fmt.Errorf("%s: change_detection hash finds deleted keys itself; remove key_scan_interval", where))
			}
			if e.RescanInterval < 0 {
				errs = append(errs, fmt.Errorf("%s: rescan_interval must not be negative", where))
			}
			if e.RescanInterval == 0 {
				c.Entities[i].RescanInterval = sdk.Duration(DefaultRescanInterval)
			}
		case "logical":
			errs = append(errs, checkLogicalEntity(c, e, where)...)
		default:
			errs = append(errs, fmt.Errorf("%s: change_detection %q: want cursor, hash or logical", where, e.ChangeDetection))
		}
		names := map[string]bool{}
		for j, ch := range e.Children {
			cw := fmt.Sprintf("%s: children[%d]", where, j)
			if ch.Name == "" || ch.Table == "" || ch.Key == "" || ch.ParentKey == "" {
				errs = append(errs, fmt.Errorf("%s: name, table, key and parent_key are required", cw))
			}
			if names[ch.Name] {
				errs = append(errs, fmt.Errorf("%s: duplicate name %q", cw, ch.Name))
			}
			names[ch.Name] = true
			if ch.OrderBy == "" {
				c.Entities[i].Children[j].OrderBy = ch.Key
			}
		}
	}
	errs = append(errs, checkLogicalSource(&c)...)
	return c, loc, errors.Join(errs...)
}

// checkSQLiteDir names the missing directory of a SQLite database, which
// SQLite itself reports only as "unable to open database file (14)".
func checkSQLiteDir(driver, dsn string) error {
	dir, ok := sqliteDir(dsn)
	if driver != "sqlite" || !ok {
		return nil
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("sql: dsn: directory %s of the SQLite database does not exist", dir)
	}
	return nil
}

// sqliteDir is the directory of a SQLite DSN's database file; ok is false
// for an in-memory database.
func sqliteDir(dsn string) (string, bool) {
	p, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if p == "" || p == ":memory:" || strings.Contains(dsn, "mode=memory") {
		return "", false
	}
	return filepath.Dir(p), true
}
