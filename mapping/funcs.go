package mapping

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/crmhub/crmhub/mapping/funcs"
	"github.com/expr-lang/expr/ast"
	"github.com/shopspring/decimal"
)

// Func is one function of the mapping language: its spec (name, signature,
// doc, examples) and its implementation, registered once. The docs, the
// load-time checks and the example tests all read this registration.
type Func struct {
	Name      string
	Signature string
	Doc       string
	Examples  []Example

	// types are expr function types (new(func(any) any)) so that expr
	// checks arity and literal argument types at load time.
	types []any
	fn    func(args ...any) (any, error)
	// check inspects literal arguments at load time (a bad regex, an
	// unknown time zone or table) where expr's types cannot tell.
	check func(m *Mapping, args []ast.Node) error
	// nilOnInvalid marks cleaners that return nil for a value they cannot
	// read (phone, email, country): the engine turns such a nil into a
	// warning so the loss is never silent.
	nilOnInvalid bool
	// raw is fn with errors named but drops (dropError) kept, for the
	// cleaner's twin that records them (see drops.go).
	raw func(args ...any) (any, error)
}

// Example is one documented call and its result as JSON ("null" for nil).
// Every example is run by the tests.
type Example struct {
	Expr string
	Want string
}

var registry = map[string]*Func{}

func register(f *Func) {
	if fn := f.fn; fn != nil {
		// Run-time errors name the function, so a record error reads
		// "addresses[0].country: date: value does not match …".
		prefix := f.Name + ":"
		f.raw = func(args ...any) (any, error) {
			v, err := fn(args...)
			if err != nil && asDrop(err) == nil && !strings.HasPrefix(err.Error(), prefix) {
				err = fmt.Errorf("%s %w", prefix, err)
			}
			return v, err
		}
		f.fn = func(args ...any) (any, error) {
			v, err := f.raw(args...)
			if asDrop(err) != nil {
				return v, nil // outside Apply (docs, examples) a drop is just left out
			}
			return v, err
		}
	}
	if _, dup := registry[f.Name]; dup {
		panic("mapping: function registered twice: " + f.Name)
	}
	registry[f.Name] = f
}

// Functions returns the function library sorted by name.
func Functions() []Func {
	out := make([]Func, 0, len(registry))
	for _, f := range registry {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// errNotText is returned when a function needs a scalar and gets an object or list.
var errNotText = errors.New("want a text or number value, got an object or list")

// text turns a scalar into its string form; ok is false for nil.
func text(v any) (string, bool, error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, true, nil
	case int:
		return strconv.Itoa(x), true, nil
	case int64:
		return strconv.FormatInt(x, 10), true, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true, nil
	case bool:
		return strconv.FormatBool(x), true, nil
	case fmt.Stringer:
		return x.String(), true, nil
	default:
		return "", false, errNotText
	}
}

// str1 applies f to a single text argument with nil in, nil out and an
// empty result turned into nil.
func str1(f func(string) string) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		s, ok, err := text(args[0])
		if err != nil || !ok {
			return nil, err
		}
		return nilIfEmpty(f(s)), nil
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func stringConst(n ast.Node) (string, bool) {
	if s, ok := n.(*ast.StringNode); ok {
		return s.Value, true
	}
	return "", false
}

var (
	anyFn1     = new(func(any) any)
	anyFn2     = new(func(any, any) any)
	anyFn3     = new(func(any, any, any) any)
	anyVariadc = new(func(...any) any)
)

func init() {
	register(&Func{Name: "trim", Signature: "trim(s) → string|nil",
		Doc:      "Removes leading and trailing white space. nil in, nil out; an empty result is nil.",
		Examples: []Example{{`trim("  Hans  ")`, `"Hans"`}, {`trim("   ")`, `null`}},
		types:    []any{anyFn1}, fn: str1(strings.TrimSpace)})
	register(&Func{Name: "upper", Signature: "upper(s) → string|nil",
		Doc:      "Upper-cases (Unicode) and trims.",
		Examples: []Example{{`upper(" de123 ")`, `"DE123"`}},
		types:    []any{anyFn1}, fn: str1(func(s string) string { return strings.ToUpper(strings.TrimSpace(s)) })})
	register(&Func{Name: "lower", Signature: "lower(s) → string|nil",
		Doc:      "Lower-cases (Unicode) and trims.",
		Examples: []Example{{`lower(" ÄRGER ")`, `"ärger"`}},
		types:    []any{anyFn1}, fn: str1(func(s string) string { return strings.ToLower(strings.TrimSpace(s)) })})
	register(&Func{Name: "title", Signature: "title(s) → string|nil",
		Doc:      "Title-cases each word (\"MÜLLER GMBH\" → \"Müller Gmbh\"), collapsing white space.",
		Examples: []Example{{`title("hans  MÜLLER")`, `"Hans Müller"`}},
		types:    []any{anyFn1}, fn: str1(func(s string) string { return funcs.TitleCase(funcs.Collapse(s)) })})
	register(&Func{Name: "collapse", Signature: "collapse(s) → string|nil",
		Doc:      "Trims and collapses inner runs of white space (including non-breaking spaces) to one space.",
		Examples: []Example{{`collapse(" Müller \u00a0 GmbH ")`, `"Müller GmbH"`}},
		types:    []any{anyFn1}, fn: str1(funcs.Collapse)})
	register(&Func{Name: "nospace", Signature: "nospace(s) → string|nil",
		Doc:      "Removes all white space, e.g. from VAT ids and IBANs.",
		Examples: []Example{{`nospace("DE 123 456 789")`, `"DE123456789"`}},
		types:    []any{anyFn1}, fn: str1(func(s string) string {
			return strings.Map(func(r rune) rune {
				if unicode.IsSpace(r) {
					return -1
				}
				return r
			}, s)
		})})
	register(&Func{Name: "coalesce", Signature: "coalesce(a, b, ...) → any",
		Doc:      "The first argument that is neither nil nor empty (blank text, empty list or object).",
		Examples: []Example{{`coalesce(nil, "  ", "b", "c")`, `"b"`}, {`coalesce(nil, "")`, `null`}},
		types:    []any{anyVariadc},
		fn: func(args ...any) (any, error) {
			for _, a := range args {
				if !isEmpty(a) {
					return a, nil
				}
			}
			return nil, nil
		}})
	register(&Func{Name: "join", Signature: "join(sep, a, b, ...) → string|nil",
		Doc:      "Joins the non-empty parts with sep; lists are flattened. Replaces expr's built-in join.",
		Examples: []Example{{`join(" ", "Hans", nil, " ", "Müller")`, `"Hans Müller"`}, {`join(", ", ["a", "b"], "c")`, `"a, b, c"`}},
		types:    []any{new(func(string, ...any) any)},
		fn: func(args ...any) (any, error) {
			sep, _, err := text(args[0])
			if err != nil {
				return nil, fmt.Errorf("join separator: %w", err)
			}
			var parts []string
			var add func(v any) error
			add = func(v any) error {
				if l, ok := v.([]any); ok {
					for _, e := range l {
						if err := add(e); err != nil {
							return err
						}
					}
					return nil
				}
				if l, ok := v.([]string); ok {
					for _, e := range l {
						_ = add(e)
					}
					return nil
				}
				s, ok, err := text(v)
				if err != nil {
					return err
				}
				if ok && strings.TrimSpace(s) != "" {
					parts = append(parts, strings.TrimSpace(s))
				}
				return nil
			}
			for _, a := range args[1:] {
				if err := add(a); err != nil {
					return nil, fmt.Errorf("join: %w", err)
				}
			}
			return nilIfEmpty(strings.Join(parts, sep)), nil
		}})
	register(&Func{Name: "replace_re", Signature: "replace_re(s, pattern, repl) → string|nil",
		Doc:      "Replaces every match of the regular expression pattern (Go RE2 syntax) by repl ($1 refers to groups). A bad literal pattern is a load error.",
		Examples: []Example{{`replace_re("Tel: 030-123", "[^0-9+]", "")`, `"030123"`}, {`replace_re("2024/05/01", "(\\d+)/(\\d+)/(\\d+)", "$3.$2.$1")`, `"01.05.2024"`}},
		types:    []any{new(func(any, string, string) any)},
		check: func(_ *Mapping, args []ast.Node) error {
			if p, ok := stringConst(args[1]); ok {
				if _, err := regexp.Compile(p); err != nil {
					return fmt.Errorf("replace_re: bad pattern: %w", err)
				}
			}
			return nil
		},
		fn: func(args ...any) (any, error) {
			s, ok, err := text(args[0])
			if err != nil || !ok {
				return nil, err
			}
			re, err := cachedRegexp(args[1].(string))
			if err != nil {
				return nil, err
			}
			return nilIfEmpty(re.ReplaceAllString(s, args[2].(string))), nil
		}})
	register(&Func{Name: "split_name", Signature: "split_name(full) → {\"given\", \"family\"}|nil",
		Doc: "Splits a person's name written \"Hans Müller\" or \"Müller, Hans\". Salutations and titles (Herr, Frau, Dr., Prof., Mr, Mrs …) are dropped; " +
			"particles (von, van, de, zu …) stay with the family name; a single word is a family name.",
		Examples: []Example{{`split_name("Müller, Hans")`, `{"family":"Müller","given":"Hans"}`}, {`split_name("Dr. Anna von der Heide")`, `{"family":"von der Heide","given":"Anna"}`}, {`split_name("Cher")`, `{"family":"Cher"}`}},
		types:    []any{anyFn1},
		fn: func(args ...any) (any, error) {
			s, ok, err := text(args[0])
			if err != nil || !ok {
				return nil, err
			}
			g, f := funcs.SplitName(s)
			if g == "" && f == "" {
				return nil, nil
			}
			out := map[string]any{}
			if g != "" {
				out["given"] = g
			}
			if f != "" {
				out["family"] = f
			}
			return out, nil
		}})
	register(&Func{Name: "given_name", Signature: "given_name(full) → string|nil",
		Doc:      "The given name(s) of split_name.",
		Examples: []Example{{`given_name("Hans Peter Müller")`, `"Hans Peter"`}},
		types:    []any{anyFn1},
		fn:       str1(func(s string) string { g, _ := funcs.SplitName(s); return g })})
	register(&Func{Name: "family_name", Signature: "family_name(full) → string|nil",
		Doc:      "The family name of split_name.",
		Examples: []Example{{`family_name("Müller, Hans")`, `"Müller"`}},
		types:    []any{anyFn1},
		fn:       str1(func(s string) string { _, f := funcs.SplitName(s); return f })})
	register(&Func{Name: "date", Signature: "date(s, layout[, tz]) → \"YYYY-MM-DD\"|nil",
		Doc: "Parses a date or timestamp with an explicit layout and returns the calendar date in tz (an IANA zone, default UTC). " +
			"Layouts are Go layouts (\"02.01.2006\") or YYYY/MM/DD/HH/mm/ss tokens (\"DD.MM.YYYY\"); several layouts may be given separated by |; " +
			"\"unix\" and \"unixms\" read epoch numbers. A value that matches no layout is a record error.",
		Examples: []Example{{`date("31.12.2023", "DD.MM.YYYY")`, `"2023-12-31"`}, {`date("2024-03-01T23:30:00Z", "2006-01-02T15:04:05Z07:00", "Europe/Berlin")`, `"2024-03-02"`}, {`date("", "DD.MM.YYYY")`, `null`}},
		types:    []any{new(func(any, string) any), new(func(any, string, string) any)},
		check:    checkTZ(2),
		fn: func(args ...any) (any, error) {
			t, ok, err := parseTime(args...)
			if err != nil || !ok {
				return nil, err
			}
			return t.Format("2006-01-02"), nil
		}})
	register(&Func{Name: "timestamp", Signature: "timestamp(s, layout[, tz]) → RFC 3339 UTC|nil",
		Doc:      "Parses like date; a value without a zone is read in tz (the source system's zone, default UTC). Returns RFC 3339 in UTC.",
		Examples: []Example{{`timestamp("01.07.2024 14:30", "DD.MM.YYYY HH:mm", "Europe/Berlin")`, `"2024-07-01T12:30:00Z"`}, {`timestamp(1700000000, "unix")`, `"2023-11-14T22:13:20Z"`}},
		types:    []any{new(func(any, string) any), new(func(any, string, string) any)},
		check:    checkTZ(2),
		fn: func(args ...any) (any, error) {
			t, ok, err := parseTime(args...)
			if err != nil || !ok {
				return nil, err
			}
			return t.UTC().Format(time.RFC3339Nano), nil
		}})
	register(&Func{Name: "format_time", Signature: "format_time(t, layout[, tz]) → string|nil",
		Doc: "Formats an RFC 3339 timestamp (a canonical updated_at) with a layout, as wall clock in tz (default UTC): the reverse of timestamp, " +
			"for reverse mappings writing a system's own time format. Layouts as in date (Go layouts or YYYY/MM/DD/HH/mm/ss tokens).",
		Examples: []Example{{`format_time("2024-07-01T12:30:00Z", "YYYY-MM-DD HH:mm:ss", "Europe/Berlin")`, `"2024-07-01 14:30:00"`}, {`format_time(nil, "YYYY-MM-DD")`, `null`}},
		types:    []any{new(func(any, string) any), new(func(any, string, string) any)},
		check:    checkTZ(2),
		fn: func(args ...any) (any, error) {
			t, ok, err := parseTime(args[0], time.RFC3339Nano)
			if err != nil || !ok {
				return nil, err
			}
			loc := time.UTC
			if len(args) > 2 {
				tz, _ := args[2].(string)
				if loc, err = funcs.Location(tz); err != nil {
					return nil, err
				}
			}
			layout, _ := args[1].(string)
			return t.In(loc).Format(funcs.GoLayout(layout)), nil
		}})
	register(&Func{Name: "decimal", Signature: "decimal(s[, locale]) → decimal string|nil",
		Doc: "Reads a decimal number exactly (never through a float). locale \"en\" reads 1,234.56, \"de\" reads 1.234,56, \"fr\" 1 234,56, \"ch\" 1'234.56; " +
			"without a locale the format is detected and an ambiguous value (1,234) is a record error; group separators must group by three; a trailing minus (SAP style 12,50-) is accepted. Numbers pass through.",
		Examples: []Example{{`decimal("1.234,56", "de")`, `"1234.56"`}, {`decimal("12,50-", "de")`, `"-12.50"`}, {`decimal(19.9)`, `"19.9"`}},
		types:    []any{new(func(any) any), new(func(any, string) any)},
		check:    checkLocale(1),
		fn: func(args ...any) (any, error) {
			loc := ""
			if len(args) > 1 {
				loc, _ = args[1].(string)
			}
			d, ok, err := parseDecimal(args[0], loc)
			if err != nil || !ok {
				return nil, err
			}
			return funcs.DecimalString(d), nil
		}})
	register(&Func{Name: "money", Signature: "money(amount[, currency][, locale]) → {\"amount\", \"currency\"}|nil",
		Doc: "A money value: amount as an exact decimal string, currency as ISO 4217. The currency may be given (a code, any case) or written in the amount " +
			"(\"EUR 12,50\", \"12,50 €\"); locale as for decimal. Amounts get at least the currency's minor digits (2 for EUR).",
		Examples: []Example{{`money("1.234,5", "EUR", "de")`, `{"amount":"1234.50","currency":"EUR"}`}, {`money("12.00 CHF")`, `{"amount":"12.00","currency":"CHF"}`}, {`money(99, "jpy")`, `{"amount":"99","currency":"JPY"}`}, {`money(nil, "EUR")`, `null`}},
		types:    []any{new(func(any) any), new(func(any, any) any), new(func(any, any, string) any)},
		check: func(m *Mapping, args []ast.Node) error {
			if len(args) > 1 {
				if c, ok := stringConst(args[1]); ok && !currencyRe.MatchString(strings.ToUpper(c)) {
					return fmt.Errorf("money: %q is not an ISO 4217 currency code", c)
				}
			}
			return checkLocale(2)(m, args)
		},
		fn: moneyFn})
	register(&Func{Name: "phone", Signature: "phone(s[, region]) → E.164|nil",
		Doc: "Normalizes a phone number to E.164 with libphonenumber. region (\"DE\", a country name or a field) is used for numbers without a country prefix; " +
			"a number is read with that region only, never guessed into another country. A number that is not valid there, or a region that is not a known country, " +
			"gives nil and a warning on the record (counted as a dropped value); the record goes on. A required field dead-letters instead.",
		Examples: []Example{{`phone("030/1234567", "DE")`, `"+49301234567"`}, {`phone("0043 1 5123456", "DE")`, `"+4315123456"`}, {`phone("+1 (202) 555-0143")`, `"+12025550143"`}, {`phone("12", "DE")`, `null`}},
		types:    []any{anyFn1, anyFn2},
		check: func(_ *Mapping, args []ast.Node) error {
			if len(args) > 1 {
				if r, ok := stringConst(args[1]); ok && funcs.PhoneRegion(r) == "" {
					return fmt.Errorf("phone: unknown region %q", r)
				}
			}
			return nil
		},
		nilOnInvalid: true,
		fn:           phoneFn})
	register(&Func{Name: "email", Signature: "email(s) → string|nil",
		Doc:          "Trims and lower-cases an e-mail address; accepts \"Name <a@b.de>\" and mailto:. Not an address gives nil and a warning on the record.",
		Examples:     []Example{{`email(" Hans.Mueller@Example.DE ")`, `"hans.mueller@example.de"`}, {`email("Hans <h@x.de>")`, `"h@x.de"`}, {`email("n/a")`, `null`}},
		types:        []any{anyFn1},
		nilOnInvalid: true,
		fn: func(args ...any) (any, error) {
			s, ok, err := text(args[0])
			if err != nil || !ok {
				return nil, err
			}
			if e := funcs.Email(s); e != "" {
				return e, nil
			}
			return nil, drop("not an e-mail address")
		}})
	register(&Func{Name: "emails", Signature: "emails(s) → [string]|nil",
		Doc: "Every address in a text holding several (separated by , ; or space), normalized like email; for emails[] (lists are appended element by element). " +
			"Each part that is not an address is left out with a warning.",
		Examples:     []Example{{`emails("a@x.de; B@Y.com,, junk")`, `["a@x.de","b@y.com"]`}},
		types:        []any{anyFn1},
		nilOnInvalid: true,
		fn: func(args ...any) (any, error) {
			s, ok, err := text(args[0])
			if err != nil || !ok {
				return nil, err
			}
			var out []any
			bad := 0
			for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) }) {
				if e := funcs.Email(p); e != "" {
					out = append(out, e)
				} else {
					bad++
				}
			}
			switch {
			case bad > 0 && len(out) == 0:
				return nil, dropSome(bad, "not an e-mail address")
			case bad > 0:
				return out, dropSome(bad, "not an e-mail address")
			case len(out) == 0:
				return nil, nil
			}
			return out, nil
		}})
	register(&Func{Name: "country", Signature: "country(s) → ISO 3166-1 alpha-2|nil",
		Doc: "A country from its ISO 3166-1 alpha-2 or alpha-3 code (all 249 codes, and XK) or its name: the common name in English, German, French or Spanish (CLDR), " +
			"the official name (\"Bolivarian Republic of Venezuela\") and common variants (\"USA\", \"U.S.\", \"UK\", \"Great Britain\", \"Holland\"); case, accents, dots and a leading \"the\" do not matter. " +
			"A name that is not one country (\"Congo\", \"Atlantis\") gives nil and a warning on the record.",
		Examples:     []Example{{`country("Deutschland")`, `"DE"`}, {`country("at")`, `"AT"`}, {`country("Vereinigtes Königreich")`, `"GB"`}, {`country("Bolivarian Republic of Venezuela")`, `"VE"`}, {`country("Allemagne")`, `"DE"`}, {`country("U.S.")`, `"US"`}, {`country("Atlantis")`, `null`}},
		types:        []any{anyFn1},
		nilOnInvalid: true,
		fn: func(args ...any) (any, error) {
			s, ok, err := text(args[0])
			if err != nil || !ok {
				return nil, err
			}
			if strings.TrimSpace(s) == "" {
				return nil, nil
			}
			if c := funcs.CountryCode(s); c != "" {
				return c, nil
			}
			return nil, drop("not a known country")
		}})
	register(&Func{Name: "lookup", Signature: "lookup(table, key[, default]) → any",
		Doc: "Looks key up in a code table of the mapping (tables: inline map or {file: x.csv} next to the mapping, two columns key,value with a header row). " +
			"A key not in the table is a record error unless a default is given; nil in, nil out.",
		Examples: []Example{{`lookup("status", "A")`, `"active"`}, {`lookup("status", "Z", "inactive")`, `"inactive"`}},
		types:    []any{new(func(string, any) any), new(func(string, any, any) any)},
		check: func(m *Mapping, args []ast.Node) error {
			t, ok := stringConst(args[0])
			if !ok {
				return errors.New("lookup: the table must be a literal name")
			}
			if _, ok := m.tables[t]; !ok {
				return fmt.Errorf("lookup: no table %q in this mapping", t)
			}
			return nil
		}})
	register(&Func{Name: "hash", Signature: "hash(s[, salt]) → hex SHA-256|nil",
		Doc:      "Hex SHA-256 of salt+s, for pseudonymous ids.",
		Examples: []Example{{`hash("abc")`, `"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"`}},
		types:    []any{anyFn1, new(func(any, string) any)},
		fn: func(args ...any) (any, error) {
			s, ok, err := text(args[0])
			if err != nil || !ok {
				return nil, err
			}
			if len(args) > 1 {
				s = args[1].(string) + s
			}
			h := sha256.Sum256([]byte(s))
			return hex.EncodeToString(h[:]), nil
		}})
	register(&Func{Name: "parse_json", Signature: "parse_json(s) → any",
		Doc:      "Decodes JSON text (e.g. order lines aggregated by SQL); a value that is already a list or object passes through. Bad JSON is a record error.",
		Examples: []Example{{`parse_json("[{\"sku\":\"A-1\",\"qty\":2}]")`, `[{"qty":2,"sku":"A-1"}]`}},
		types:    []any{anyFn1},
		fn: func(args ...any) (any, error) {
			s, ok := args[0].(string)
			if !ok {
				return args[0], nil
			}
			if strings.TrimSpace(s) == "" {
				return nil, nil
			}
			v, err := decodeJSON([]byte(s))
			if err != nil {
				return nil, fmt.Errorf("parse_json: %w", err)
			}
			return v, nil
		}})
	register(&Func{Name: "ref", Signature: "ref(system, id) → {\"system\", \"id\"}|nil",
		Doc:      "A reference to a record in a source system; nil when id is empty. For customer_ref and external_ids[].",
		Examples: []Example{{`ref("erp", 10042)`, `{"id":"10042","system":"erp"}`}, {`ref("crm", "")`, `null`}},
		types:    []any{anyFn2},
		fn: func(args ...any) (any, error) {
			sys, _, err := text(args[0])
			if err != nil {
				return nil, fmt.Errorf("ref system: %w", err)
			}
			id, ok, err := text(args[1])
			if err != nil {
				return nil, fmt.Errorf("ref id: %w", err)
			}
			id = strings.TrimSpace(id)
			if !ok || id == "" {
				return nil, nil
			}
			return map[string]any{"system": sys, "id": id}, nil
		}})
	register(&Func{Name: "bool", Signature: "bool(x) → true|false|nil",
		Doc:      "Reads yes/no values: true/false, 1/0, yes/no, y/n, ja/nein, j, x (checked), on/off. Anything else is a record error.",
		Examples: []Example{{`bool("Ja")`, `true`}, {`bool(0)`, `false`}, {`bool("")`, `null`}},
		types:    []any{anyFn1},
		fn: func(args ...any) (any, error) {
			if b, ok := args[0].(bool); ok {
				return b, nil
			}
			s, ok, err := text(args[0])
			if err != nil || !ok {
				return nil, err
			}
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "":
				return nil, nil
			case "true", "1", "yes", "y", "ja", "j", "x", "on", "t", "wahr":
				return true, nil
			case "false", "0", "no", "n", "nein", "off", "f", "falsch":
				return false, nil
			}
			return nil, errors.New("bool: value is not a yes/no value")
		}})
	register(&Func{Name: "map_lines", Signature: "map_lines(list, {...}) → [any]",
		Doc: "Maps each element of a list (order lines) to an object, # being the element and #index its position from 0; " +
			"nil values are left out as everywhere. Sugar for expr's map(list, ({...})).",
		Examples: []Example{{`map_lines([{"sku": "A", "q": "2"}], {"line_no": #index + 1, "sku": #.sku, "quantity": decimal(#.q), "x": nil})`, `[{"line_no":1,"quantity":"2","sku":"A"}]`}}})
}

var (
	reCache    sync.Map // pattern -> *regexp.Regexp
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
)

func cachedRegexp(p string) (*regexp.Regexp, error) {
	if v, ok := reCache.Load(p); ok {
		return v.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("bad pattern: %w", err)
	}
	reCache.Store(p, re)
	return re, nil
}

func checkTZ(i int) func(*Mapping, []ast.Node) error {
	return func(_ *Mapping, args []ast.Node) error {
		if len(args) > i {
			if tz, ok := stringConst(args[i]); ok {
				if _, err := funcs.Location(tz); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

func checkLocale(i int) func(*Mapping, []ast.Node) error {
	return func(_ *Mapping, args []ast.Node) error {
		if len(args) > i {
			if l, ok := stringConst(args[i]); ok {
				if !funcs.KnownLocale(l) {
					return fmt.Errorf("unknown locale %q (known: en, de, fr, ch)", l)
				}
			}
		}
		return nil
	}
}

func parseTime(args ...any) (time.Time, bool, error) {
	layout, _ := args[1].(string)
	loc := time.UTC
	if len(args) > 2 {
		tz, _ := args[2].(string)
		l, err := funcs.Location(tz)
		if err != nil {
			return time.Time{}, false, err
		}
		loc = l
	}
	if layout == "unix" || layout == "unixms" {
		var n int64
		switch x := args[0].(type) {
		case nil:
			return time.Time{}, false, nil
		case int:
			n = int64(x)
		case float64:
			n = int64(x)
		default:
			s, _, err := text(x)
			if err != nil {
				return time.Time{}, false, err
			}
			if strings.TrimSpace(s) == "" {
				return time.Time{}, false, nil
			}
			n, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return time.Time{}, false, fmt.Errorf("value is not a %s epoch number", layout)
			}
		}
		if layout == "unixms" {
			return time.UnixMilli(n).In(loc), true, nil
		}
		return time.Unix(n, 0).In(loc), true, nil
	}
	s, ok, err := text(args[0])
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	return funcs.ParseTime(s, layout, loc)
}

// parseDecimal reads a number: JSON numbers through their shortest exact
// form, text in a locale (funcs.ParseDecimal).
func parseDecimal(v any, locale string) (decimal.Decimal, bool, error) {
	switch x := v.(type) {
	case nil:
		return decimal.Decimal{}, false, nil
	case int:
		return decimal.NewFromInt(int64(x)), true, nil
	case int64:
		return decimal.NewFromInt(x), true, nil
	case float64:
		d, err := decimal.NewFromString(strconv.FormatFloat(x, 'f', -1, 64))
		return d, err == nil, err
	}
	s, _, err := text(v)
	if err != nil {
		return decimal.Decimal{}, false, err
	}
	return funcs.ParseDecimal(s, locale)
}

func moneyFn(args ...any) (any, error) {
	amount := args[0]
	if amount == nil {
		return nil, nil
	}
	cur := ""
	if len(args) > 1 && args[1] != nil {
		c, _, err := text(args[1])
		if err != nil {
			return nil, fmt.Errorf("money: currency: %w", err)
		}
		cur = strings.ToUpper(strings.TrimSpace(c))
	}
	loc := ""
	if len(args) > 2 {
		loc, _ = args[2].(string)
	}
	if s, ok := amount.(string); ok {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, nil
		}
		var found string
		s, found = funcs.SplitCurrency(s)
		if found != "" {
			if cur != "" && cur != found {
				return nil, fmt.Errorf("money: amount is in %s but currency %s was given", found, cur)
			}
			cur = found
		}
		amount = s
	}
	if cur == "" {
		return nil, errors.New("money: no currency given or found in the amount")
	}
	if !funcs.IsCurrencyCode(cur) { // currencyRe, by hand (TestCurrencyCheckByHand)
		return nil, errors.New("money: currency is not an ISO 4217 code")
	}
	minor := funcs.MinorUnits(cur)
	if s, ok := amount.(string); ok && (loc == "" || funcs.NormLocale(loc) == "en") {
		// A plain amount ("1234.50") in the default or English locale
		// is formatted directly (plainMoney), without the decimal type.
		if out, ok := funcs.PlainMoney(s, minor); ok {
			return map[string]any{"amount": out, "currency": cur}, nil
		}
	}
	d, ok, err := parseDecimal(amount, loc)
	if err != nil {
		return nil, fmt.Errorf("money: amount: %w", err)
	}
	if !ok {
		return nil, nil
	}
	return map[string]any{"amount": funcs.MoneyAmount(d, minor), "currency": cur}, nil
}

func phoneFn(args ...any) (any, error) {
	s, ok, err := text(args[0])
	if err != nil || !ok || strings.TrimSpace(s) == "" {
		return nil, err
	}
	region := "ZZ"
	if len(args) > 1 && args[1] != nil {
		r, _, err := text(args[1])
		if err != nil {
			return nil, fmt.Errorf("phone region: %w", err)
		}
		if region = funcs.PhoneRegion(r); region == "" {
			// A region the data names but nobody knows (a typo, a
			// country missing from the source) loses this value, not
			// the record.
			return nil, drop("unknown region")
		}
	}
	return phoneResult(funcs.Phone(s, region), region)
}

func phoneResult(e164, region string) (any, error) {
	switch {
	case e164 != "":
		return e164, nil
	case region == "ZZ":
		return nil, drop("no country prefix and no region")
	}
	return nil, drop("not a valid number for the region")
}
