package identity

import (
	"strings"

	"github.com/antzucaro/matchr"

	"github.com/crmhub/crmhub/hub"
)

// personBlockKeys are the blocking rules for persons beyond the postal
// code, unioned: each catches pairs another misses.
//
//   - "bd:" the full birth date: a mistyped name and a wrong postcode digit
//     at once still share it;
//   - "nm:" Double Metaphone (English and most European spellings) of the
//     family name with the given name's initial, and the same with given
//     and family name swapped, so "Schmidt, Anna" meets "Anna Schmidt"
//     entered the other way round (Kölner Phonetik, for German, keys the
//     postal-code blocks "pf:"; a second name-only rule added pairs to
//     score for every write and found no pair more on the demo data);
//   - "gp:" the postal code with the given name's phonetic code, so a
//     first-letter typo of the family name (Chmidt) still meets;
//   - "sh:" street name and house number, so a record without a family
//     name, or with a wrong postal code, meets its neighbours' records.
//
// c's addresses are as blockKeys read them (matchAddresses).
//
// A record without a given name takes the family-name keys without an
// initial ("nm:SMT|"), and meets the records with one through birth date
// or street.
func personBlockKeys(c hub.Customer) []string {
	var keys []string
	if bd := strings.TrimSpace(c.BirthDate); len(bd) == len("2006-01-02") {
		keys = append(keys, "bd:"+bd)
	}
	given, fam := givenName(c), familyName(c)
	initial := func(s string) string {
		if s == "" {
			return ""
		}
		return s[:1]
	}
	nameKeys := func(family, given string) {
		if family == "" {
			return
		}
		w := strings.ReplaceAll(family, " ", "")
		if p, _ := matchr.DoubleMetaphone(w); p != "" {
			keys = append(keys, "nm:"+p+"|"+initial(given))
		}
	}
	nameKeys(fam, given)
	if given != "" {
		nameKeys(given, fam) // swapped
		if p, _ := matchr.DoubleMetaphone(strings.ReplaceAll(given, " ", "")); p != "" {
			for _, a := range c.Addresses {
				if pc := normPostal(a.PostalCode); pc != "" {
					keys = append(keys, "gp:"+pc+"|"+p)
				}
			}
		}
	}
	for _, a := range c.Addresses {
		if l := ParseStreetLine(streetLines(a)); l.Street != "" && l.Number != "" {
			keys = append(keys, "sh:"+l.Street+"|"+l.Number)
		}
	}
	return keys
}

// BlockRule names the blocking rule of a blocking key ("person|blk:bd:…"
// -> "bd"), for metrics: never the key itself, which holds personal data.
func BlockRule(key string) string {
	_, rest, _ := strings.Cut(key, "|")
	rest = strings.TrimPrefix(rest, ClassBlock+":")
	rule, _, ok := strings.Cut(rest, ":")
	if !ok {
		return "unknown"
	}
	return rule
}
