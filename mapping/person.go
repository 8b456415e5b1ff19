package mapping

import (
	"strings"

	"github.com/crmhub/crmhub/mapping/funcs"
)

func init() {
	register(&Func{Name: "gender", Signature: "gender(s) → string|nil",
		Doc: "Reads a gender code or salutation (m/f/w/d, male, weiblich, Herr, Frau, Mr, Mrs, Ms, Mme, ...) as " +
			"female, male, diverse or unknown. nil (with a warning) for a value it cannot read.",
		Examples: []Example{{`gender("W")`, `"female"`}, {`gender("Herr")`, `"male"`}, {`gender("Mrs.")`, `"female"`},
			{`gender("d")`, `"diverse"`}, {`gender("Dr.")`, `null`}},
		types: []any{anyFn1}, nilOnInvalid: true,
		fn: str1(funcs.Gender)})
}

func init() {
	register(&Func{Name: "person_id", Signature: "person_id(scheme, value, country?) → object|nil",
		Doc: "Builds a person identifier {scheme, value, country} for `identifiers`: the value loses spaces, dashes, " +
			"dots and slashes and is upper-cased, the scheme is lower-cased, the country upper-cased. nil when the value is empty.",
		Examples: []Example{{`person_id("NINO", "ab 12 34 56 c", "gb")`, `{"country":"GB","scheme":"nino","value":"AB123456C"}`},
			{`person_id("ssn", "123-45-6789")`, `{"scheme":"ssn","value":"123456789"}`}, {`person_id("ssn", " ")`, `null`}},
		types: []any{anyFn2, anyFn3},
		fn: func(args ...any) (any, error) {
			scheme, _, err := text(args[0])
			if err != nil {
				return nil, err
			}
			value, ok, err := text(args[1])
			if err != nil || !ok {
				return nil, err
			}
			value = strings.ToUpper(strings.Map(func(r rune) rune {
				switch r {
				case ' ', '-', '.', '/', '\u00a0', '\t':
					return -1
				}
				return r
			}, value))
			if value == "" {
				return nil, nil
			}
			out := map[string]any{"scheme": strings.ToLower(strings.TrimSpace(scheme)), "value": value}
			if len(args) > 2 {
				if c, ok, err := text(args[2]); err != nil {
					return nil, err
				} else if ok && strings.TrimSpace(c) != "" {
					out["country"] = strings.ToUpper(strings.TrimSpace(c))
				}
			}
			return out, nil
		}})
}
