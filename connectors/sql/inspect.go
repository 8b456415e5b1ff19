package sqlconn

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Inspection is what `crmhub connectors inspect` finds in a live database:
// its tables, and the entities and connector config it proposes.
type Inspection struct {
	Driver   string
	Tables   []TableInfo
	Entities []EntityConfig // proposed, children found through foreign keys
	// Notes explain choices of the proposal (a cursor left out, a key
	// missing), one line each.
	Notes []string
}

// TableInfo describes one table.
type TableInfo struct {
	Name    string
	Rows    int64
	Columns []ColumnInfo
	Key     []string // primary key columns
	// ChangeColumns are timestamp columns named like an updated-at, in
	// the order they are best used as a cursor; NullChange counts the
	// rows whose first one is NULL (cursor polling never reads those).
	ChangeColumns []string
	NullChange    int64
	ForeignKeys   []ForeignKey
	// Sample holds the first rows as the sql source hands them to the
	// mapping.
	Sample []sdk.Record
}

// ColumnInfo is one column as the catalog declares it.
type ColumnInfo struct {
	Name, Type string
	Nullable   bool
}

// ForeignKey is a single-column reference to another table.
type ForeignKey struct {
	Column, RefTable, RefColumn string
}

// changeNames are parts of column names that say "when the row last
// changed", best first.
var changeNames = []string{"updated", "modified", "write_date", "changed", "last_update", "lastupdate", "mtime", "last_mod"}

// Inspect reads the catalog of the database at dsn (PostgreSQL: the
// search_path's first schema; MySQL/MariaDB: the DSN's database; SQLite:
// the main database) and samples up to samples rows of each table through
// the sql source itself.
func Inspect(ctx context.Context, driver, dsn string, samples int) (*Inspection, error) {
	db, d, err := openCatalog(ctx, driver, dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	in := &Inspection{Driver: driver}
	names, err := listTables(ctx, db, driver)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		t := TableInfo{Name: name}
		if err := describeTable(ctx, db, driver, &t); err != nil {
			return nil, fmt.Errorf("sql: inspect table %s: %w", name, err)
		}
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+d.table(name)).Scan(&t.Rows); err != nil {
			return nil, fmt.Errorf("sql: count rows of %s: %w", name, err)
		}
		t.ChangeColumns = changeColumns(t.Columns)
		if len(t.ChangeColumns) > 0 {
			q := "SELECT COUNT(*) FROM " + d.table(name) + " WHERE " + d.ident(t.ChangeColumns[0]) + " IS NULL"
			if err := db.QueryRowContext(ctx, q).Scan(&t.NullChange); err != nil {
				return nil, fmt.Errorf("sql: count NULL %s of %s: %w", t.ChangeColumns[0], name, err)
			}
		}
		if samples > 0 {
			if t.Sample, err = sampleRows(ctx, driver, dsn, t, samples); err != nil {
				return nil, err
			}
		}
		in.Tables = append(in.Tables, t)
	}
	in.propose()
	return in, nil
}

func listTables(ctx context.Context, db *sql.DB, driver string) ([]string, error) {
	var q string
	switch driver {
	case "postgres":
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
	case "mysql":
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name`
	default:
		q = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
	}
	return queryStrings(ctx, db, q)
}

func queryStrings(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sql: list tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// describeTable fills the columns, primary key and foreign keys of t.
func describeTable(ctx context.Context, db *sql.DB, driver string, t *TableInfo) error {
	if driver == "sqlite" {
		return describeSQLite(ctx, db, t)
	}
	schema := "current_schema()"
	if driver == "mysql" {
		schema = "DATABASE()"
	}
	ph := "?"
	if driver == "postgres" {
		ph = "$1"
	}
	rows, err := db.QueryContext(ctx, `SELECT column_name, data_type, is_nullable FROM information_schema.columns
		WHERE table_schema = `+schema+` AND table_name = `+ph+` ORDER BY ordinal_position`, t.Name)
	if err != nil {
		return err
	}
	for rows.Next() {
		var c ColumnInfo
		var null string
		if err := rows.Scan(&c.Name, &c.Type, &null); err != nil {
			rows.Close()
			return err
		}
		c.Nullable = null == "YES"
		t.Columns = append(t.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if t.Key, err = queryStrings(ctx, db, `SELECT k.column_name FROM information_schema.table_constraints c
		JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema AND k.table_name = c.table_name
		WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = `+schema+` AND c.table_name = `+ph+` ORDER BY k.ordinal_position`, t.Name); err != nil {
		return err
	}
	fq := `SELECT k.column_name, k.referenced_table_name, k.referenced_column_name FROM information_schema.key_column_usage k
		WHERE k.table_schema = DATABASE() AND k.table_name = ? AND k.referenced_table_name IS NOT NULL ORDER BY k.constraint_name, k.ordinal_position`
	if driver == "postgres" {
		// Single-column keys only: a composite reference names no one
		// parent key column.
		fq = `SELECT min(k.column_name), min(u.table_name), min(u.column_name) FROM information_schema.table_constraints c
			JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema
			JOIN information_schema.constraint_column_usage u ON u.constraint_name = c.constraint_name AND u.constraint_schema = c.constraint_schema
			WHERE c.constraint_type = 'FOREIGN KEY' AND c.table_schema = current_schema() AND c.table_name = $1
			GROUP BY c.constraint_name HAVING count(DISTINCT k.column_name) = 1 ORDER BY c.constraint_name`
	}
	return readForeignKeys(ctx, db, t, fq, t.Name)
}

func describeSQLite(ctx context.Context, db *sql.DB, t *TableInfo) error {
	rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid`, t.Name)
	if err != nil {
		return err
	}
	type pkCol struct {
		n    int
		name string
	}
	var pks []pkCol
	for rows.Next() {
		var c ColumnInfo
		var notNull, pk int
		if err := rows.Scan(&c.Name, &c.Type, &notNull, &pk); err != nil {
			rows.Close()
			return err
		}
		c.Nullable = notNull == 0 && pk == 0
		t.Columns = append(t.Columns, c)
		if pk > 0 {
			pks = append(pks, pkCol{pk, c.Name})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	sort.Slice(pks, func(i, j int) bool { return pks[i].n < pks[j].n })
	for _, p := range pks {
		t.Key = append(t.Key, p.name)
	}
	return readForeignKeys(ctx, db, t, `SELECT "from", "table", coalesce("to", '') FROM pragma_foreign_key_list(?) WHERE id IN
		(SELECT id FROM pragma_foreign_key_list(?) GROUP BY id HAVING count(*) = 1) ORDER BY id`, t.Name, t.Name)
}

// readForeignKeys appends to t the foreign keys q lists as (column,
// referenced table, referenced column) rows.
func readForeignKeys(ctx context.Context, db *sql.DB, t *TableInfo, q string, args ...any) error {
	frows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer frows.Close()
	for frows.Next() {
		var f ForeignKey
		if err := frows.Scan(&f.Column, &f.RefTable, &f.RefColumn); err != nil {
			return err
		}
		t.ForeignKeys = append(t.ForeignKeys, f)
	}
	return frows.Err()
}

// changeColumns picks the timestamp columns named like an updated-at.
// SQLite declares types loosely, so there the name alone counts, with a
// date-ish declared type or none.
func changeColumns(cols []ColumnInfo) []string {
	type cand struct {
		rank int
		name string
	}
	var cs []cand
	for _, c := range cols {
		typ, name := strings.ToLower(c.Type), strings.ToLower(c.Name)
		if !strings.Contains(typ, "time") && !strings.Contains(typ, "date") && typ != "" && typ != "text" {
			continue
		}
		for rank, part := range changeNames {
			if strings.Contains(name, part) {
				cs = append(cs, cand{rank, c.Name})
				break
			}
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].rank < cs[j].rank })
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return out
}

// openCatalog connects to the database Inspect and SampleTable read.
func openCatalog(ctx context.Context, driver, dsn string) (*sql.DB, dialect, error) {
	d, ok := dialects[driver]
	if !ok {
		return nil, d, fmt.Errorf("sql: driver %q: want postgres, mysql or sqlite", driver)
	}
	if err := checkSQLiteDir(driver, dsn); err != nil {
		return nil, d, err
	}
	db, err := sql.Open(d.driverName, dsn)
	if err != nil {
		return nil, d, fmt.Errorf("sql: open %s database: %w", driver, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, d, fmt.Errorf("sql: connect to %s database: %w", driver, err)
	}
	return db, d, nil
}

// SampleTable reads the first n rows of table (in key order) through the
// sql source, exactly as a mapping receives them: the sample reader of
// Inspect, for `crmhub mapping suggest` on a live database.
func SampleTable(ctx context.Context, driver, dsn, table string, n int) ([]sdk.Record, error) {
	db, _, err := openCatalog(ctx, driver, dsn)
	if err != nil {
		return nil, err
	}
	t := TableInfo{Name: table}
	err = describeTable(ctx, db, driver, &t)
	db.Close()
	if err != nil {
		return nil, fmt.Errorf("sql: describe table %s: %w", table, err)
	}
	if len(t.Columns) == 0 {
		return nil, fmt.Errorf("sql: no table %q in the database (crmhub connectors inspect lists them)", table)
	}
	return sampleRows(ctx, driver, dsn, t, n)
}

// sampleRows reads the first rows of t through the sql source, so they are
// exactly what a mapping receives.
func sampleRows(ctx context.Context, driver, dsn string, t TableInfo, n int) ([]sdk.Record, error) {
	key := ""
	if len(t.Key) == 1 {
		key = t.Key[0]
	} else if len(t.Columns) > 0 {
		key = t.Columns[0].Name // only to order the sample
	}
	s := &Source{}
	cfg := sdk.Config{"driver": driver, "dsn": dsn, "batch_size": n, "timezone": "UTC",
		"entities": []any{map[string]any{"name": t.Name, "table": t.Name, "key": key}}}
	if err := s.Configure(ctx, cfg); err != nil {
		return nil, fmt.Errorf("sql: sample %s: %w", t.Name, err)
	}
	defer s.Teardown(ctx)
	if err := s.Open(ctx, nil); err != nil {
		return nil, fmt.Errorf("sql: sample %s: %w", t.Name, err)
	}
	recs, err := s.Read(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("sql: sample %s: %w", t.Name, err)
	}
	return recs, nil
}

// propose turns the tables into entities: a table that references one
// other table and is referenced by none becomes a child of the table it
// references; every other table with a single-column key is an entity.
func (in *Inspection) propose() {
	referenced := map[string]bool{}
	byName := map[string]*TableInfo{}
	for i := range in.Tables {
		t := &in.Tables[i]
		byName[t.Name] = t
		for _, f := range t.ForeignKeys {
			if f.RefTable != t.Name {
				referenced[f.RefTable] = true
			}
		}
	}
	children := map[string][]ChildConfig{}
	isChild := map[string]bool{}
	for _, t := range in.Tables {
		if referenced[t.Name] || len(t.ForeignKeys) != 1 || len(t.Key) != 1 {
			continue
		}
		f := t.ForeignKeys[0]
		p := byName[f.RefTable]
		if p == nil || len(p.Key) != 1 || p.Key[0] != f.RefColumn || f.RefTable == t.Name {
			continue
		}
		isChild[t.Name] = true
		ch := ChildConfig{Name: t.Name, Table: t.Name, Key: t.Key[0], ParentKey: f.Column}
		if len(t.ChangeColumns) > 0 && t.NullChange == 0 {
			ch.Cursor = t.ChangeColumns[0]
		}
		children[f.RefTable] = append(children[f.RefTable], ch)
	}
	for _, t := range in.Tables {
		if isChild[t.Name] {
			continue
		}
		if len(t.Key) != 1 {
			in.Notes = append(in.Notes, fmt.Sprintf("table %s: no single-column primary key (%s); not proposed: read it with a query naming a unique column as key", t.Name, strings.Join(t.Key, ", ")))
			continue
		}
		e := EntityConfig{Name: t.Name, Table: t.Name, Key: t.Key[0], Children: children[t.Name]}
		switch {
		case len(t.ChangeColumns) > 0 && t.NullChange == 0:
			e.Cursor = t.ChangeColumns[0]
		case len(t.ChangeColumns) > 0:
			e.ChangeDetection = "hash"
			in.Notes = append(in.Notes, fmt.Sprintf("table %s: %s is NULL in %d of %d rows, which cursor polling never reads: change_detection hash proposed (or logical on PostgreSQL)",
				t.Name, t.ChangeColumns[0], t.NullChange, t.Rows))
		default:
			e.ChangeDetection = "hash"
			in.Notes = append(in.Notes, fmt.Sprintf("table %s: no updated-at column: change_detection hash proposed (or logical on PostgreSQL)", t.Name))
		}
		if e.ChangeDetection == "hash" {
			// A hash pass compares the children's content itself.
			e.Children = slices.Clone(e.Children)
			for i := range e.Children {
				e.Children[i].Cursor = ""
			}
		}
		in.Entities = append(in.Entities, e)
	}
}

// Write prints the inspection for a person: tables, proposed config, and
// samples with the types the mapping sees.
func (in *Inspection) Write(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Tables (%s)\n\n", in.Driver)
	for _, t := range in.Tables {
		fmt.Fprintf(&b, "%s: %d rows, key (%s)\n", t.Name, t.Rows, strings.Join(t.Key, ", "))
		for _, c := range t.Columns {
			null := ""
			if c.Nullable {
				null = " null"
			}
			fmt.Fprintf(&b, "  %-24s %s%s\n", c.Name, c.Type, null)
		}
		if len(t.ChangeColumns) > 0 {
			fmt.Fprintf(&b, "  change columns: %s (first NULL in %d rows)\n", strings.Join(t.ChangeColumns, ", "), t.NullChange)
		}
		for _, f := range t.ForeignKeys {
			fmt.Fprintf(&b, "  foreign key: %s -> %s.%s\n", f.Column, f.RefTable, f.RefColumn)
		}
	}
	b.WriteString("\n# Proposed source (crmhub.yaml, under connectors:)\n\n")
	b.WriteString(in.ConfigYAML())
	for _, n := range in.Notes {
		fmt.Fprintf(&b, "# note: %s\n", n)
	}
	b.WriteString("\n# Sample records as the mapping sees them (field: Go type of the mapping = JSON)\n")
	for _, t := range in.Tables {
		for _, r := range t.Sample {
			fmt.Fprintf(&b, "\n%s %s:\n", t.Name, r.ID)
			fields, err := SampleFields(r.Payload)
			if err != nil {
				return fmt.Errorf("sql: sample of %s: %w", t.Name, err)
			}
			for _, f := range fields {
				fmt.Fprintf(&b, "  %-24s %-15s %s\n", f.Name, f.GoType, f.JSON)
			}
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// ConfigYAML is the proposed connector instance; the DSN is left as a
// placeholder so no secret is printed.
func (in *Inspection) ConfigYAML() string {
	var b strings.Builder
	b.WriteString("  - name: CHANGE_ME\n    plugin: sql\n    system: CHANGE_ME\n    settings:\n")
	fmt.Fprintf(&b, "      driver: %s\n      dsn: ${CRMHUB_SQL_DSN}\n", in.Driver)
	if slices.ContainsFunc(in.Entities, func(e EntityConfig) bool { return e.ChangeDetection == "hash" }) {
		// Without it a restart republishes every row of a hash entity
		// and misses its deletes.
		b.WriteString("      state_dir: data/sql-CHANGE_ME\n")
	}
	b.WriteString("      entities:\n")
	for _, e := range in.Entities {
		fmt.Fprintf(&b, "        - name: %s\n          table: %s\n          key: %s\n", yamlString(e.Name), yamlString(e.Table), yamlString(e.Key))
		if e.Cursor != "" {
			fmt.Fprintf(&b, "          cursor: %s\n", yamlString(e.Cursor))
		}
		if e.ChangeDetection != "" {
			fmt.Fprintf(&b, "          change_detection: %s\n", e.ChangeDetection)
		}
		if len(e.Children) > 0 {
			b.WriteString("          children:\n")
			for _, c := range e.Children {
				fmt.Fprintf(&b, "            - {name: %s, table: %s, key: %s, parent_key: %s", yamlString(c.Name), yamlString(c.Table), yamlString(c.Key), yamlString(c.ParentKey))
				if c.Cursor != "" {
					fmt.Fprintf(&b, ", cursor: %s", yamlString(c.Cursor))
				}
				b.WriteString("}\n")
			}
		}
	}
	return b.String()
}

// yamlString quotes a name when YAML would not read it back as itself.
func yamlString(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r == '_' || r == '.' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			plain = false
		}
	}
	if plain && !slices.Contains([]string{"true", "false", "null", "yes", "no", "on", "off", "~"}, strings.ToLower(s)) {
		return s
	}
	q, _ := json.Marshal(s)
	return string(q)
}

// SampleField is one field of a raw record: its JSON and the Go type a
// mapping expression gets for it.
type SampleField struct {
	Name, GoType, JSON string
}

// SampleFields lists the fields of a raw record's payload in their order,
// with the type the mapping decodes each to: a JSON number is an int when
// it is a whole number that fits, else a float64 (which is why decimals
// arrive as strings).
func SampleFields(payload []byte) ([]SampleField, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("payload is not a JSON object")
	}
	var out []SampleField
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		out = append(out, SampleField{Name: tok.(string), GoType: goType(raw), JSON: string(raw)})
	}
	return out, nil
}

func goType(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "nil"
	case '[':
		return "[]any"
	case '{':
		return "map[string]any"
	}
	n := json.Number(raw)
	if i, err := n.Int64(); err == nil && i == int64(int(i)) {
		return "int"
	}
	return "float64"
}
