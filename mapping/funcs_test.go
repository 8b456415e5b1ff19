package mapping

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// exampleMapping carries the "status" table the lookup examples use.
const exampleMapping = `
mapping: examples
version: 1
source: {system: test, entity: t}
target: {entity: customer}
tables:
  status: {A: active, I: inactive}
fields:
  kind: '"person"'
`

func evalExpr(t testing.TB, src string, env map[string]any) (any, error) {
	t.Helper()
	m, err := Parse("examples.yaml", []byte(exampleMapping))
	if err != nil {
		t.Fatalf("example mapping: %v", err)
	}
	l := &loader{file: "examples.yaml", m: m}
	p, err := l.compile(src, 1, "example")
	if err != nil {
		return nil, errors.Join(l.errs...)
	}
	if env == nil {
		env = map[string]any{}
	}
	v, err := run(p, env)
	if v != nil {
		v, _ = prune(v)
	}
	return v, err
}

func asJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "!" + err.Error()
	}
	return string(b)
}

// TestFunctionExamples runs every documented example, so the reference
// printed by `crmhub mapping docs` cannot lie.
func TestFunctionExamples(t *testing.T) {
	for _, f := range Functions() {
		if len(f.Examples) == 0 {
			t.Errorf("%s has no example", f.Name)
		}
		if f.Doc == "" || !strings.HasPrefix(f.Signature, f.Name+"(") {
			t.Errorf("%s: doc or signature missing", f.Name)
		}
		for _, ex := range f.Examples {
			if !strings.Contains(ex.Expr, f.Name+"(") {
				t.Errorf("%s: example %s does not call it", f.Name, ex.Expr)
			}
			got, err := evalExpr(t, ex.Expr, nil)
			if err != nil {
				t.Errorf("%s: %v", ex.Expr, err)
				continue
			}
			if g := asJSON(got); g != ex.Want {
				t.Errorf("%s = %s, docs say %s", ex.Expr, g, ex.Want)
			}
		}
	}
}

func TestFunctions(t *testing.T) {
	tests := []struct {
		expr    string
		env     map[string]any
		want    string // JSON
		wantErr string // substring of the error
	}{
		{expr: `trim(x)`, env: map[string]any{"x": nil}, want: `null`},
		{expr: `trim(x)`, env: map[string]any{"x": 42}, want: `"42"`},
		{expr: `trim(x)`, env: map[string]any{"x": map[string]any{"a": 1}}, wantErr: "object or list"},
		{expr: `upper(missing)`, want: `null`},
		{expr: `title("o'neil mcdonald")`, want: `"O'neil Mcdonald"`},
		{expr: `collapse("a\t\n b")`, want: `"a b"`},
		{expr: `nospace(nil)`, want: `null`},
		{expr: `coalesce(x, y)`, env: map[string]any{"x": []any{}, "y": 0}, want: `0`},
		{expr: `join("-", x, 2)`, env: map[string]any{"x": 1.5}, want: `"1.5-2"`},
		{expr: `join("-", x)`, env: map[string]any{"x": map[string]any{}}, wantErr: "join"},
		{expr: `replace_re("a1b2", "[0-9]", "")`, want: `"ab"`},
		{expr: `replace_re("123", "[0-9]", "")`, want: `null`},
		{expr: `split_name("Hans Müller")`, want: `{"family":"Müller","given":"Hans"}`},
		{expr: `split_name("Frau Prof. Dr. Maria van den Berg")`, want: `{"family":"van den Berg","given":"Maria"}`},
		{expr: `split_name("Smith, John Jr.")`, want: `{"family":"Smith","given":"John"}`},
		{expr: `split_name("  ")`, want: `null`},
		{expr: `given_name("Herr Müller")`, want: `null`},
		{expr: `family_name("Herr Müller")`, want: `"Müller"`},
		{expr: `date("2024-02-30", "2006-01-02")`, wantErr: "does not match layout"},
		{expr: `date("03/15/2024", "DD.MM.YYYY|MM/DD/YYYY")`, want: `"2024-03-15"`},
		{expr: `date(x, "unixms")`, env: map[string]any{"x": 1700000000000}, want: `"2023-11-14"`},
		{expr: `date("abc", "unix")`, wantErr: "epoch"},
		{expr: `timestamp("2024-07-01 14:30:00", "2006-01-02 15:04:05")`, want: `"2024-07-01T14:30:00Z"`},
		{expr: `timestamp("2024-01-15 08:00", "YYYY-MM-DD HH:mm", "America/New_York")`, want: `"2024-01-15T13:00:00Z"`},
		{expr: `timestamp(x, "2006-01-02", tz)`, env: map[string]any{"x": "2024-01-01", "tz": "Mars/Olympus"}, wantErr: "unknown time zone"},
		{expr: `decimal("1,234.56")`, want: `"1234.56"`},
		{expr: `decimal("1,5")`, want: `"1.5"`},
		{expr: `decimal("1,234")`, wantErr: "ambiguous"},
		{expr: `decimal("1,234", "en")`, want: `"1234"`},
		{expr: `decimal("1.234.567,8")`, want: `"1234567.8"`},
		{expr: `decimal("1,5", "en")`, wantErr: "bad digit grouping"},
		{expr: `decimal("1.5", "de")`, wantErr: "bad digit grouping"},
		{expr: `decimal("1 234,5", "fr")`, want: `"1234.5"`},
		{expr: `decimal("1'234.50", "de-CH")`, want: `"1234.50"`},
		{expr: `decimal("12abc")`, wantErr: "not a decimal"},
		{expr: `decimal("-0,5", "de")`, want: `"-0.5"`},
		{expr: `decimal(x)`, env: map[string]any{"x": 12}, want: `"12"`},
		{expr: `money("1.234,56 €", nil, "de")`, want: `{"amount":"1234.56","currency":"EUR"}`},
		{expr: `money("EUR 5")`, want: `{"amount":"5.00","currency":"EUR"}`},
		{expr: `money("5 USD", "EUR")`, wantErr: "amount is in USD"},
		{expr: `money("5")`, wantErr: "no currency"},
		{expr: `money("5", cur)`, env: map[string]any{"cur": "euro"}, wantErr: "ISO 4217"},
		{expr: `money("1.5", "KWD")`, want: `{"amount":"1.500","currency":"KWD"}`},
		{expr: `money("0.125", "EUR")`, want: `{"amount":"0.125","currency":"EUR"}`},
		{expr: `money("abc", "EUR")`, wantErr: "money: amount"},
		{expr: `phone("0171 2345678", "de")`, want: `"+491712345678"`},
		{expr: `phone("0171 2345678", c)`, env: map[string]any{"c": "Deutschland"}, want: `"+491712345678"`},
		{expr: `phone("0171 2345678", c)`, env: map[string]any{"c": "Atlantis"}, want: `null`}, // a drop with a warning (drops_test.go), not a record error
		{expr: `phone("0171 2345678")`, want: `null`},
		{expr: `phone("not a phone", "DE")`, want: `null`},
		{expr: `phone(x, "DE")`, env: map[string]any{"x": 301234567}, want: `"+49301234567"`},
		{expr: `email("a@b")`, want: `null`},
		{expr: `email("mailto:A@B.DE")`, want: `"a@b.de"`},
		{expr: `email("a..b@c.de")`, want: `null`},
		{expr: `email("two@x.de other@y.de")`, want: `null`},
		{expr: `emails("")`, want: `null`},
		{expr: `country("AUT")`, want: `"AT"`},
		{expr: `country("Oesterreich")`, want: `"AT"`},
		{expr: `country("the Netherlands")`, want: `"NL"`},
		{expr: `country("U.S.A.")`, want: `"US"`},
		{expr: `country("BR")`, want: `"BR"`},
		{expr: `country("KE")`, want: `"KE"`},
		{expr: `country("XY")`, want: `null`},
		{expr: `lookup("status", "I")`, want: `"inactive"`},
		{expr: `lookup("status", x)`, want: `null`},
		{expr: `lookup("status", "Q")`, wantErr: "not in table status"},
		{expr: `lookup("status", "Q", nil)`, want: `null`},
		{expr: `hash(nil)`, want: `null`},
		{expr: `hash("abc", "salt") != hash("abc")`, want: `true`},
		{expr: `parse_json("{bad")`, wantErr: "parse_json"},
		{expr: `parse_json(x)`, env: map[string]any{"x": []any{1}}, want: `[1]`},
		{expr: `parse_json("[1.5, 2]")[1] + 1`, want: `3`},
		{expr: `ref("erp", nil)`, want: `null`},
		{expr: `ref("erp", 1.5)`, want: `{"id":"1.5","system":"erp"}`},
		{expr: `bool("vielleicht")`, wantErr: "yes/no"},
		{expr: `bool(true)`, want: `true`},
		{expr: `map_lines(parse_json(x), {"sku": upper(#.sku), "q": decimal(#.q, "de")})`, env: map[string]any{"x": `[{"sku":"a","q":"1,5"},{"sku":"b"}]`}, want: `[{"q":"1.5","sku":"A"},{"sku":"B"}]`},
		{expr: `map_lines(x, {"v": #})`, env: map[string]any{"x": []any{"a,b", "(c)"}}, want: `[{"v":"a,b"},{"v":"(c)"}]`},
		{expr: `len(split("a;b", ";"))`, want: `2`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := evalExpr(t, tt.expr, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q (got %s)", err, tt.wantErr, asJSON(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := asJSON(got); g != tt.want {
				t.Errorf("= %s, want %s", g, tt.want)
			}
		})
	}
}

// TestLoadTimeChecks: mistakes expr or the registry can see are refused when
// the mapping loads, not on the first record.
func TestLoadTimeChecks(t *testing.T) {
	tests := []struct{ expr, want string }{
		{`phone(x)`, ""},
		{`phone()`, "not enough arguments"},
		{`phone(x, "DE", 1)`, "too many arguments"},
		{`frobnicate(x)`, "unknown function frobnicate"},
		{`replace_re(x, "([a-z", "")`, "bad pattern"},
		{`date(x, "2006", "Europe/Nowhere")`, "unknown time zone"},
		{`decimal(x, "xx")`, "unknown locale"},
		{`money(x, "EURO")`, "ISO 4217"},
		{`phone(x, "QQ")`, "unknown region"},
		{`lookup("nope", x)`, `no table "nope"`},
		{`lookup(t, x)`, "literal name"},
		{`trim(x`, "unexpected token"},
		{`date(x, 5)`, "call date"},
	}
	for _, tt := range tests {
		_, err := evalExpr(t, tt.expr, nil)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.expr, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want %q", tt.expr, err, tt.want)
		case tt.want != "" && !errors.Is(err, ErrLoad):
			t.Errorf("%s: %v is not a load error", tt.expr, err)
		}
	}
	// The loader's own message carries file, line and field.
	_, err := Parse("m.yaml", []byte(strings.Replace(exampleMapping, `kind: '"person"'`, "kind: '\"person\"'\n  phones[]: phone(tel, \"QQ\")", 1)))
	if err == nil || !strings.Contains(err.Error(), `m.yaml:10: fields.phones[]: phone: unknown region "QQ"`) {
		t.Fatalf("err = %v", err)
	}
}
