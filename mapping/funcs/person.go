package funcs

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

// Gender is the canonical gender (female, male, diverse, unknown) of a
// code or salutation, "" for one it cannot read.
func Gender(s string) string {
	return genderWords[strings.Trim(strings.ToLower(strings.TrimSpace(s)), ".")]
}
