package mapping

import "strings"

// genderWords maps the spellings back offices use (codes, salutations in
// several languages) to the canonical gender values.
var genderWords = map[string]string{
	"f": "female", "w": "female", "female": "female", "weiblich": "female", "frau": "female", "fr": "female",
	"mrs": "female", "ms": "female", "miss": "female", "mme": "female", "madame": "female", "woman": "female",
	"m": "male", "male": "male", "männlich": "male", "maennlich": "male", "herr": "male", "hr": "male",
	"mr": "male", "monsieur": "male", "man": "male",
	"d": "diverse", "x": "diverse", "diverse": "diverse", "divers": "diverse",
	"u": "unknown", "unknown": "unknown", "unbekannt": "unknown",
}

func init() {
	register(&Func{Name: "gender", Signature: "gender(s) → string|nil",
		Doc: "Reads a gender code or salutation (m/f/w/d, male, weiblich, Herr, Frau, Mr, Mrs, Ms, Mme, ...) as " +
			"female, male, diverse or unknown. nil (with a warning) for a value it cannot read.",
		Examples: []Example{{`gender("W")`, `"female"`}, {`gender("Herr")`, `"male"`}, {`gender("Mrs.")`, `"female"`},
			{`gender("d")`, `"diverse"`}, {`gender("Dr.")`, `null`}},
		types: []any{anyFn1}, nilOnInvalid: true,
		fn: str1(func(s string) string {
			return genderWords[strings.Trim(strings.ToLower(strings.TrimSpace(s)), ".")]
		})})
}
