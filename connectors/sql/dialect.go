package sqlconn

import (
	"strconv"
	"strings"

	_ "github.com/go-sql-driver/mysql" // MySQL/MariaDB
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL
	_ "modernc.org/sqlite"             // SQLite
)

// dialect holds what differs between the databases: the database/sql driver
// name, identifier quoting and placeholders.
type dialect struct {
	driverName string
	quoteChar  string
	dollar     bool // $1 placeholders instead of ?
	// rawPrefix is put before the cursor and key columns in the extra select
	// list. For SQLite a unary + strips the declared type, so modernc hands
	// back the stored value (text or integer) instead of a parsed time that
	// would compare differently when bound as a parameter.
	rawPrefix string
	// rowCompare: the database plans (c, k) > (?, ?) as an index range
	// scan; MariaDB does not, so it gets the equivalent OR form.
	rowCompare bool
	// textParams: bind written values as text and let the server parse
	// them by the column's type. pgx finds no plan for an int64 into a
	// text column or a bool into varchar, while PostgreSQL reads "10115"
	// and "true" into any column type that can hold them.
	textParams bool
}

var dialects = map[string]dialect{
	"postgres": {driverName: "pgx", quoteChar: `"`, dollar: true, rowCompare: true, textParams: true},
	"mysql":    {driverName: "mysql", quoteChar: "`"},
	"sqlite":   {driverName: "sqlite", quoteChar: `"`, rawPrefix: "+", rowCompare: true},
}

// ident quotes one identifier; the quote character is doubled inside, so no
// configured name can break out of the quotes.
func (d dialect) ident(name string) string {
	return d.quoteChar + strings.ReplaceAll(name, d.quoteChar, d.quoteChar+d.quoteChar) + d.quoteChar
}

// table quotes a possibly schema-qualified table name part by part.
func (d dialect) table(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = d.ident(p)
	}
	return strings.Join(parts, ".")
}

// placeholders numbers parameters for PostgreSQL and leaves ? elsewhere.
type placeholders struct {
	d dialect
	n int
}

func (p *placeholders) next() string {
	p.n++
	if p.d.dollar {
		return "$" + strconv.Itoa(p.n)
	}
	return "?"
}

const (
	cursorAlias = "__crmhub_cursor"
	keyAlias    = "__crmhub_key"
)

// queries are the statements of one entity, built once at Open from quoted
// identifiers; values are always parameters.
type queries struct {
	first string // first page, no position yet
	next  string // following pages
	// overlapFirst and overlapNext page through cursor values in [lo, hi]
	// (the overlap re-read), the next pages after (cursor, key).
	overlapFirst, overlapNext string
	keyScan                   string
}

func buildQueries(d dialect, e EntityConfig) queries {
	src := strings.TrimRight(strings.TrimSpace(e.Query), "; \n\t")
	if e.Table != "" {
		src = "SELECT * FROM " + d.table(e.Table)
	}
	k := "t." + d.ident(e.Key)
	sel := "SELECT t.*, " + d.rawPrefix + k + " AS " + d.ident(keyAlias)
	order := " ORDER BY " + k
	if e.Cursor != "" {
		c := "t." + d.ident(e.Cursor)
		sel += ", " + d.rawPrefix + c + " AS " + d.ident(cursorAlias)
		order = " ORDER BY " + c + ", " + k
	}
	from := " FROM (" + src + ") t"
	var q queries
	p := &placeholders{d: d}
	if e.Cursor != "" {
		q.first = sel + from + " WHERE t." + d.ident(e.Cursor) + " IS NOT NULL" + order + " LIMIT " + p.next()
	} else {
		q.first = sel + from + order + " LIMIT " + p.next()
	}
	p = &placeholders{d: d}
	if e.Cursor != "" {
		c := "t." + d.ident(e.Cursor)
		if d.rowCompare {
			q.next = sel + from + " WHERE (" + c + ", " + k + ") > (" + p.next() + ", " + p.next() + ")" + order + " LIMIT " + p.next()
		} else {
			q.next = sel + from + " WHERE " + c + " > " + p.next() + " OR (" + c + " = " + p.next() + " AND " + k + " > " + p.next() + ")" + order + " LIMIT " + p.next()
		}
	} else {
		q.next = sel + from + " WHERE " + k + " > " + p.next() + order + " LIMIT " + p.next()
	}
	if e.Cursor != "" {
		c := "t." + d.ident(e.Cursor)
		p = &placeholders{d: d}
		q.overlapFirst = sel + from + " WHERE " + c + " >= " + p.next() + " AND " + c + " <= " + p.next() + order + " LIMIT " + p.next()
		p = &placeholders{d: d}
		q.overlapNext = sel + from + " WHERE " + c + " <= " + p.next() + " AND (" + c + " > " + p.next() + " OR (" + c + " = " + p.next() + " AND " + k + " > " + p.next() + "))" + order + " LIMIT " + p.next()
	}
	q.keyScan = "SELECT " + d.rawPrefix + k + " FROM (" + src + ") t"
	return q
}
