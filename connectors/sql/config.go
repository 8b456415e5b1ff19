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

// Config is the typed form of the "sql" parameters.
type Config struct {
	Driver    string         `json:"driver"`
	DSN       string         `json:"dsn"`
	BatchSize int            `json:"batch_size"`
	Timezone  string         `json:"timezone"`
	Entities  []EntityConfig `json:"entities"`
	// Slot and Publication name the replication slot and publication of
	// change_detection: logical (PostgreSQL); Publication defaults to Slot.
	Slot        string `json:"slot"`
	Publication string `json:"publication"`
	// StateDir keeps the row hashes of change_detection: hash entities
	// between runs.
	StateDir string `json:"state_dir"`
}

// logical reports whether the source reads a PostgreSQL replication
// stream (every entity then has change_detection: logical).
func (c Config) logical() bool {
	return len(c.Entities) > 0 && c.Entities[0].ChangeDetection == "logical"
}

// EntityConfig is one item of `entities`.
type EntityConfig struct {
	Name            string       `json:"name"`
	Table           string       `json:"table"`
	Query           string       `json:"query"`
	Key             string       `json:"key"`
	Cursor          string       `json:"cursor"`
	Deleted         string       `json:"deleted"`
	KeyScanInterval sdk.Duration `json:"key_scan_interval"`
	// CursorOverlap is how far behind its position a caught-up reader
	// looks again for rows whose timestamp cursor sorts before rows
	// already read (a transaction that committed late, a writer that set
	// an older time). Default DefaultCursorOverlap.
	CursorOverlap sdk.Duration `json:"cursor_overlap"`
	// ChangeDetection is "cursor" (the default: keyset over cursor or key)
	// or "hash": the table is re-read in key order every RescanInterval
	// and only rows whose content hash changed are published.
	ChangeDetection string       `json:"change_detection"`
	RescanInterval  sdk.Duration `json:"rescan_interval"`
	// Children are gathered into an array field of each parent record.
	Children []ChildConfig `json:"children"`
}

// ChildConfig is one item of an entity's `children`: rows of Table whose
// ParentKey equals the parent's key become the array field Name.
type ChildConfig struct {
	Name      string `json:"name"`
	Table     string `json:"table"`
	Key       string `json:"key"`
	ParentKey string `json:"parent_key"`
	OrderBy   string `json:"order_by"`
	Cursor    string `json:"cursor"`
}

// DefaultRescanInterval is how often a hash-mode entity is re-read.
const DefaultRescanInterval = 5 * time.Minute

// DefaultCursorOverlap is the re-read window of a timestamp cursor.
const DefaultCursorOverlap = 2 * time.Minute

// parseConfig validates cfg against the declaration and checks what the
// declaration cannot express, reporting every problem at once.
func parseConfig(cfg sdk.Config) (Config, *time.Location, error) {
	var c Config
	if err := Connector.Spec.Decode(cfg, &c); err != nil {
		return c, nil, err
	}
	var errs []error
	if _, ok := dialects[c.Driver]; !ok {
		errs = append(errs, fmt.Errorf("sql: driver %q: want postgres, mysql or sqlite", c.Driver))
	}
	if c.BatchSize <= 0 {
		errs = append(errs, fmt.Errorf("sql: batch_size must be positive, got %d", c.BatchSize))
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		errs = append(errs, fmt.Errorf("sql: timezone %q: %w", c.Timezone, err))
	}
	if len(c.Entities) == 0 {
		errs = append(errs, errors.New("sql: entities: at least one entity is required"))
	}
	seen := map[string]bool{}
	for i, e := range c.Entities {
		where := fmt.Sprintf("sql: entities[%d]", i)
		if e.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", where))
		} else {
			where = fmt.Sprintf("sql: entity %q", e.Name)
		}
		if seen[e.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name", where))
		}
		seen[e.Name] = true
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

// entityFields declares the keys of an `entities` item, source and
// destination keys together, so a misspelt key is refused at config load.
var entityFields = []sdk.Param{
	{Name: "name", Type: sdk.TypeString, Required: true, Description: "Entity name records carry (the mapping's source entity)."},
	{Name: "table", Type: sdk.TypeString, Description: "Table to read or write; set this or query."},
	{Name: "query", Type: sdk.TypeString, Description: "A SELECT to read instead of a table (source)."},
	{Name: "key", Type: sdk.TypeString, Required: true, Description: "Unique column: record ID, keyset tie-breaker, upsert conflict column."},
	{Name: "cursor", Type: sdk.TypeString, Description: "Updated-at or row-version column read incrementally (source)."},
	{Name: "deleted", Type: sdk.TypeString, Description: "Soft-delete column: truthy reads as a delete; a destination sets it on delete."},
	{Name: "key_scan_interval", Type: sdk.TypeDuration, Description: "How often a key scan emits deletes for keys gone from the source."},
	{Name: "cursor_overlap", Type: sdk.TypeDuration, Description: "How far behind a timestamp cursor a caught-up reader re-reads (default 2m)."},
	{Name: "change_detection", Type: sdk.TypeString, OneOf: []string{"cursor", "hash", "logical"}, Description: "Source: `cursor` (default: keyset over cursor or key), `hash`: re-read the table in key order every `rescan_interval`, publish only new or changed rows (by content hash, children included) and deletes for keys gone, or `logical` (PostgreSQL): a consistent snapshot, then inserts, updates, deletes and child-row changes from a logical replication slot (source params `slot`, `publication`); every entity of the source then uses it."},
	{Name: "rescan_interval", Type: sdk.TypeDuration, Description: "Source, hash mode: how often the table is re-read and compared (default 5m)."},
	{Name: "children", Type: sdk.TypeList, Fields: childFields, Description: "Source: child tables gathered into an array field of each parent record."},
	{Name: "columns", Type: sdk.TypeList, Description: "Destination allow-list of writable columns."},
	{Name: "version_column", Type: sdk.TypeString, Description: "Destination: the row's updated-at column for conditional writes."},
}

// childFields declares the keys of a `children` item.
var childFields = []sdk.Param{
	{Name: "name", Type: sdk.TypeString, Required: true, Description: "Field of the parent record holding the child rows (an array)."},
	{Name: "table", Type: sdk.TypeString, Required: true, Description: "Child table."},
	{Name: "key", Type: sdk.TypeString, Required: true, Description: "Unique column of the child table."},
	{Name: "parent_key", Type: sdk.TypeString, Required: true, Description: "Child column holding the parent's key."},
	{Name: "order_by", Type: sdk.TypeString, Description: "Column ordering the children in the array (default key)."},
	{Name: "cursor", Type: sdk.TypeString, Description: "Child updated-at column: with cursor polling, a child row whose cursor moved republishes its parent."},
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
