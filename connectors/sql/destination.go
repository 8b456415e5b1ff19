package sqlconn

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// DestConfig is the typed form of the "sql" parameters of a destination.
// It shares driver, dsn and timezone with the source (documented on
// Config); its entities name the target table, the key to upsert on and
// the columns crmhub may write.
type DestConfig struct {
	Driver    string       `json:"driver"`
	DSN       string       `json:"dsn"`
	BatchSize int          `json:"batch_size"`
	Timezone  string       `json:"timezone"`
	Entities  []DestEntity `json:"entities"`
}

// DestEntity is one item of `entities` for a destination. The keys it
// shares with EntityConfig are documented there.
type DestEntity struct {
	Name    string   `json:"name"`
	Table   string   `json:"table"`
	Key     string   `json:"key"`
	Columns []string `json:"columns" doc:"Destination: allow-list of the columns crmhub may write; a record with any other field is refused."`
	Deleted string   `json:"deleted"`
	// VersionColumn, when set, makes every upsert conditional on the row
	// not having changed since the version the hub saw (see writeIfUnchanged),
	// and every write sets it from the database's clock.
	VersionColumn string "json:\"version_column\" doc:\"Destination: the row's updated-at column: a write then only updates a row not changed since the version the hub last read, else its result is a conflict and nothing is written; every write sets it from the database's clock; list it in the target's `touch` fields too.\""
}

func parseDestConfig(cfg sdk.Config) (DestConfig, *time.Location, error) {
	var c DestConfig
	if err := Connector.Spec.DecodeFor(sdk.KindDestination, cfg, &c); err != nil {
		return c, nil, err
	}
	names := make([]string, len(c.Entities))
	for i, e := range c.Entities {
		names[i] = e.Name
	}
	loc, wheres, errs := checkShared(c.Driver, c.Timezone, names)
	for i, e := range c.Entities {
		where := wheres[i]
		if e.Table == "" || e.Key == "" {
			errs = append(errs, fmt.Errorf("%s: a destination needs table and key", where))
		}
		if len(e.Columns) == 0 {
			errs = append(errs, fmt.Errorf("%s: a destination needs columns (the allow-list of columns crmhub may write)", where))
		}
		for _, col := range e.Columns {
			if col == "" {
				errs = append(errs, fmt.Errorf("%s: columns: empty column name", where))
			}
		}
	}
	return c, loc, errors.Join(errs...)
}

// Destination upserts records into tables: a record's Payload is a JSON
// object of column to value, written with INSERT ... ON CONFLICT (key) DO
// UPDATE (PostgreSQL, SQLite) or ON DUPLICATE KEY UPDATE (MySQL/MariaDB).
// Only the payload's columns are written, so columns crmhub does not own
// keep their values. With an entity's version_column, a write is
// conditional on the row not having changed since the hub read it
// (writeIfUnchanged). Write is called from one goroutine.
type Destination struct {
	sdk.UnimplementedDestination
	cfg  DestConfig
	loc  *time.Location
	d    dialect
	db   *sql.DB
	ents map[string]*destEntity
	log  *slog.Logger
}

var _ sdk.Destination = (*Destination)(nil)

type destEntity struct {
	cfg     DestEntity
	allowed map[string]bool
	kinds   map[string]colKind // every column of the table
	upserts map[string]string  // statement kind and sorted column list -> statement
	// version is how the version column's values are read: text columns
	// hold wall-clock timestamps, as the source reads a text cursor.
	version colKind
}

// Configure checks the settings without touching the database.
func (d *Destination) Configure(_ context.Context, cfg sdk.Config) error {
	c, loc, err := parseDestConfig(cfg)
	if err != nil {
		return err
	}
	d.cfg, d.loc, d.d = c, loc, dialects[c.Driver]
	d.log = slog.Default().With("connector", "sql", "kind", "destination")
	return nil
}

// Open connects and checks that every table has the key, the allow-listed
// columns and the soft-delete column, so a typo fails here and not on the
// first record.
func (d *Destination) Open(ctx context.Context) error {
	if err := checkSQLiteDir(d.cfg.Driver, d.cfg.DSN); err != nil {
		return err
	}
	db, err := sql.Open(d.d.driverName, d.cfg.DSN)
	if err != nil {
		return fmt.Errorf("sql: open %s database: %w", d.cfg.Driver, err)
	}
	d.db = db
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("sql: connect to %s database: %w", d.cfg.Driver, err)
	}
	d.ents = map[string]*destEntity{}
	var errs []error
	for _, e := range d.cfg.Entities {
		de := &destEntity{cfg: e, allowed: map[string]bool{e.Key: true}, kinds: map[string]colKind{}, upserts: map[string]string{}}
		rows, err := db.QueryContext(ctx, "SELECT * FROM "+d.d.table(e.Table)+" WHERE 1 = 0")
		if err != nil {
			errs = append(errs, fmt.Errorf("sql: entity %s: table %s: %w", e.Name, e.Table, err))
			continue
		}
		cols, err := rows.ColumnTypes()
		rows.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("sql: entity %s: table %s: columns: %w", e.Name, e.Table, err))
			continue
		}
		types := map[string]string{}
		for _, c := range cols {
			de.kinds[c.Name()] = classify(c.DatabaseTypeName())
			types[c.Name()] = c.DatabaseTypeName()
		}
		if v := e.VersionColumn; v != "" {
			if k, ok := de.kinds[v]; ok {
				if err := versionKind(types[v], k, &de.version); err != nil {
					errs = append(errs, fmt.Errorf("sql: entity %s: table %s: version_column %s %w", e.Name, e.Table, v, err))
				}
			}
		}
		var missing []string
		for _, c := range append([]string{e.Key, e.Deleted, e.VersionColumn}, e.Columns...) {
			if _, ok := de.kinds[c]; c != "" && !ok {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			errs = append(errs, fmt.Errorf("sql: entity %s: table %s has no column %s", e.Name, e.Table, strings.Join(missing, ", ")))
		}
		for _, c := range e.Columns {
			de.allowed[c] = true
		}
		d.ents[e.Name] = de
	}
	return errors.Join(errs...)
}

// errTransient marks a failure of the database rather than of the record.
var errTransient = errors.New("database unavailable")

// Write writes each record in its own statement, so one refused record does
// not undo the others. A record the database refuses (constraint, type) or
// that breaks the allow-list gets its own error. When the database itself
// is gone, a batch with nothing written yet fails as a whole (safe to
// retry); otherwise the records from the failure on are reported as not
// written.
func (d *Destination) Write(ctx context.Context, records []sdk.Record) ([]sdk.WriteResult, error) {
	if d.db == nil {
		return nil, errors.New("sql: Write before Open")
	}
	res := make([]sdk.WriteResult, len(records))
	for i, r := range records {
		id, meta, err := d.write(ctx, r)
		if errors.Is(err, errTransient) || ctx.Err() != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			if i == 0 {
				return nil, err
			}
			for j := i; j < len(records); j++ {
				res[j] = sdk.WriteResult{ID: records[j].ID, Error: fmt.Sprintf("sql: not written: %v", err)}
			}
			return res, nil
		}
		res[i].ID, res[i].Meta = id, meta
		if err != nil {
			res[i].Error, res[i].Meta = err.Error(), nil
		}
	}
	return res, nil
}

func (d *Destination) write(ctx context.Context, r sdk.Record) (string, map[string]string, error) {
	e := d.ents[r.Entity]
	where := fmt.Sprintf("sql: entity %s record %s", r.Entity, r.ID)
	if e == nil {
		return r.ID, nil, fmt.Errorf("%s: entity is not configured for write-back", where)
	}
	fields := map[string]any{}
	if len(bytes.TrimSpace(r.Payload)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(r.Payload))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil {
			if r.Op != sdk.OpDelete {
				return r.ID, nil, fmt.Errorf("%s: payload is not a JSON object: %v", where, err)
			}
			fields = map[string]any{}
		}
	}
	key := r.ID
	if v, ok := fields[e.cfg.Key]; ok && v != nil {
		k := scalarString(v)
		if key != "" && k != key {
			return r.ID, nil, fmt.Errorf("%s: field %s is %q, not the record id", where, e.cfg.Key, k)
		}
		key = k
	}
	if key == "" {
		return r.ID, nil, fmt.Errorf("%s: no key: the record has no id and no field %s", where, e.cfg.Key)
	}
	where = fmt.Sprintf("sql: entity %s record %s", r.Entity, key)
	if r.Op == sdk.OpDelete {
		p := &placeholders{d: d.d}
		var q string
		var args []any
		if e.cfg.Deleted != "" {
			q = "UPDATE " + d.d.table(e.cfg.Table) + " SET " + d.d.ident(e.cfg.Deleted) + " = " + p.next() + " WHERE " + d.d.ident(e.cfg.Key) + " = " + p.next()
			args = []any{true, key}
		} else {
			q = "DELETE FROM " + d.d.table(e.cfg.Table) + " WHERE " + d.d.ident(e.cfg.Key) + " = " + p.next()
			args = []any{key}
		}
		if _, err := d.db.ExecContext(ctx, q, args...); err != nil {
			return key, nil, d.classify(ctx, where, "delete", err)
		}
		return key, nil, nil
	}
	var refused []string
	for f := range fields {
		if !e.allowed[f] {
			refused = append(refused, f)
		}
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		return key, nil, fmt.Errorf("%s: field %s not in the columns allow-list of table %s; nothing written", where, strings.Join(refused, ", "), e.cfg.Table)
	}
	fields[e.cfg.Key] = key
	if e.cfg.Deleted != "" {
		if _, ok := fields[e.cfg.Deleted]; !ok {
			// A record written again exists again.
			fields[e.cfg.Deleted] = false
		}
	}
	if vc := e.cfg.VersionColumn; vc != "" {
		if _, ok := fields[vc]; !ok {
			// Set by writeIfUnchanged from the database's clock.
			fields[vc] = nil
		}
	}
	cols := make([]string, 0, len(fields))
	for f := range fields {
		if f != e.cfg.Key {
			cols = append(cols, f)
		}
	}
	slices.Sort(cols)
	cols = append([]string{e.cfg.Key}, cols...)
	args, err := d.bindAll(fields, cols, e, where)
	if err != nil {
		return key, nil, err
	}
	if e.cfg.VersionColumn != "" {
		meta, err := d.writeIfUnchanged(ctx, e, r, where, fields, cols, args)
		return key, meta, err
	}
	sig := "upsert\x00" + strings.Join(cols, "\x00")
	q, ok := e.upserts[sig]
	if !ok {
		q = d.d.upsert(e.cfg.Table, cols)
		e.upserts[sig] = q
	}
	_, err = d.db.ExecContext(ctx, q, args...)
	if err == nil {
		return key, nil, nil
	}
	// A record with only some columns cannot be inserted when a column it
	// lacks is NOT NULL, and the databases check that before they see the
	// conflict. For a row that exists, an UPDATE of the given columns is
	// what the upsert would have done.
	if len(cols) > 1 && d.exists(ctx, e, args[0]) {
		if _, uerr := d.db.ExecContext(ctx, d.stmt(e, "update", cols), append(slices.Clone(args[1:]), args[0])...); uerr == nil {
			return key, nil, nil
		}
	}
	return key, nil, d.classify(ctx, where, "upsert", err)
}

// bindAll binds the values of cols (key first) for the statements.
func (d *Destination) bindAll(fields map[string]any, cols []string, e *destEntity, where string) ([]any, error) {
	args := make([]any, len(cols))
	for i, c := range cols {
		v, err := bindValue(fields[c], e.kinds[c], d.loc)
		if err != nil {
			return nil, fmt.Errorf("%s: field %s: %v", where, c, err)
		}
		if d.d.textParams {
			switch x := v.(type) {
			case int64:
				v = strconv.FormatInt(x, 10)
			case bool:
				v = strconv.FormatBool(x)
			}
		}
		args[i] = v
	}
	return args, nil
}

// stmt returns the cached statement of kind "insert" or "update" for cols
// (key first). An update sets cols[1:] and takes the key last.
func (d *Destination) stmt(e *destEntity, kind string, cols []string) string {
	sig := kind + "\x00" + strings.Join(cols, "\x00")
	if q, ok := e.upserts[sig]; ok {
		return q
	}
	p := &placeholders{d: d.d}
	var q string
	switch kind {
	case "insert":
		names := make([]string, len(cols))
		marks := make([]string, len(cols))
		for i, c := range cols {
			names[i], marks[i] = d.d.ident(c), p.next()
		}
		q = "INSERT INTO " + d.d.table(e.cfg.Table) + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(marks, ", ") + ")"
	case "update":
		sets := make([]string, 0, len(cols)-1)
		for _, c := range cols[1:] {
			sets = append(sets, d.d.ident(c)+" = "+p.next())
		}
		q = "UPDATE " + d.d.table(e.cfg.Table) + " SET " + strings.Join(sets, ", ") + " WHERE " + d.d.ident(e.cfg.Key) + " = " + p.next()
	case "version":
		q = "SELECT " + d.d.ident(e.cfg.VersionColumn) + " FROM " + d.d.table(e.cfg.Table) + " WHERE " + d.d.ident(e.cfg.Key) + " = " + p.next()
		if d.d.driverName != "sqlite" {
			// The row stays as read until the update: no edit slips in
			// between the check and the write.
			q += " FOR UPDATE"
		}
	}
	e.upserts[sig] = q
	return q
}

// exists reports whether the row with key k is in e's table.
func (d *Destination) exists(ctx context.Context, e *destEntity, k any) bool {
	p := &placeholders{d: d.d}
	var one int
	err := d.db.QueryRowContext(ctx, "SELECT 1 FROM "+d.d.table(e.cfg.Table)+" WHERE "+d.d.ident(e.cfg.Key)+" = "+p.next(), k).Scan(&one)
	return err == nil
}

// classify tells a refused record from a database that went away: if the
// database still answers a ping, the statement failed for this record.
func (d *Destination) classify(ctx context.Context, where, op string, err error) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if perr := d.db.PingContext(pctx); perr != nil {
		return fmt.Errorf("%s: %s: %w: %v", where, op, errTransient, err)
	}
	return fmt.Errorf("%s: %s: %w", where, op, err)
}

// upsert builds the statement for cols (key first); identifiers are quoted
// and every value is a placeholder.
func (d dialect) upsert(table string, cols []string) string {
	var b strings.Builder
	p := &placeholders{d: d}
	b.WriteString("INSERT INTO " + d.table(table) + " (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.ident(c))
	}
	b.WriteString(") VALUES (")
	for i := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.next())
	}
	b.WriteString(")")
	key := d.ident(cols[0])
	if d.driverName == "mysql" {
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
		if len(cols) == 1 {
			b.WriteString(key + " = " + key)
		}
		for i, c := range cols[1:] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(d.ident(c) + " = VALUES(" + d.ident(c) + ")")
		}
		return b.String()
	}
	b.WriteString(" ON CONFLICT (" + key + ") DO ")
	if len(cols) == 1 {
		b.WriteString("NOTHING")
		return b.String()
	}
	b.WriteString("UPDATE SET ")
	for i, c := range cols[1:] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.ident(c) + " = EXCLUDED." + d.ident(c))
	}
	return b.String()
}

// bindValue turns a JSON value into a parameter for a column of kind k, the
// reverse of what the source reads: base64 into binary, RFC 3339 into the
// wall clock of the configured zone for columns without zone, integers as
// integers, other numbers as decimal text (no float rounding), objects and
// arrays as JSON text.
func bindValue(v any, k colKind, loc *time.Location) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool:
		return x, nil
	case json.Number:
		if n, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return n, nil
		}
		return x.String(), nil
	case string:
		switch k {
		case kindBinary:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, fmt.Errorf("binary column wants base64: %v", err)
			}
			return b, nil
		case kindTimeNoTZ:
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return t.In(loc).Format("2006-01-02 15:04:05.999999"), nil
			}
		case kindTimeTZ:
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return t.Format(time.RFC3339Nano), nil
			}
		}
		return x, nil
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}
}

// scalarString renders a key value from the payload like the record id.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return fmt.Sprint(v)
}

// Teardown closes the database.
func (d *Destination) Teardown(context.Context) error {
	if d.db == nil {
		return nil
	}
	err := d.db.Close()
	d.db = nil
	return err
}
