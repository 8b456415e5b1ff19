package identity

import (
	"strings"

	"github.com/crmhub/crmhub/hub"
)

// StreetLine is a street line split into its parts: the normalized street
// name, the house number and the unit (flat, apartment, "Unit 2",
// the "2" of Australian "2/15").
type StreetLine struct {
	Street, Number, Unit string
}

// unitWords name a unit inside a building before its number or letter
// ("Apt 3", "Suite 100", "Unit B", "Flat 2a", "Whg. 3", "Bât. B"): the
// secondary unit designators of USPS Publication 28 and the usual UK,
// Australian, German and French ones.
var unitWords = map[string]bool{"unit": true, "apt": true, "apartment": true, "flat": true, "suite": true, "ste": true,
	"wohnung": true, "whg": true, "app": true, "appt": true, "appartement": true, "#": true,
	"bldg": true, "building": true, "rm": true, "room": true, "dept": true, "ofc": true, "office": true, "spc": true,
	"space": true, "trlr": true, "lot": true, "shop": true, "bat": true, "batiment": true, "haus": true}

// floorWords name a floor, before its number ("Floor 3", "Level 2", "Fl
// 3") or after it ("3rd Floor", "2. OG", "2e étage"). A floor holds many
// flats and one system writes it where another does not, so it is left
// out of the street and is no unit.
var floorWords = map[string]bool{"floor": true, "fl": true, "level": true, "lvl": true, "og": true, "eg": true,
	"ug": true, "dg": true, "stock": true, "etage": true}

// isUnitValue reports whether a word can follow a unit word as the unit:
// a number ("3", "2b", "4/12") or a short code with a letter ("B", "A1").
func isUnitValue(w string) bool {
	if isNumWord(w) {
		return true
	}
	if len(w) == 0 || len(w) > 3 {
		return false
	}
	for i := 0; i < len(w); i++ {
		if !(w[i] >= 'a' && w[i] <= 'z' || isDigit(w[i])) {
			return false
		}
	}
	return len(w) == 1 || strings.ContainsAny(w, digitChars)
}

// isFloorNumber reports whether a word can be a floor's number before a
// floor word: "2", "3rd", "2e" (French), "1er".
func isFloorNumber(w string) bool {
	if w == "" || !isDigit(w[0]) {
		return false
	}
	i := 0
	for i < len(w) && isDigit(w[i]) {
		i++
	}
	switch w[i:] {
	case "", "st", "nd", "rd", "th", "e", "er", "eme":
		return true
	}
	return false
}

// ParseStreetLine reads a street line of DE, UK, US, AU or FR style: the
// house number before ("40 Dock Road", "12 bis rue de la Paix") or after
// the street ("Hauptstr. 5", "Dock Rd 40a"), a unit before or after
// ("Unit 2, 40 Dock Road", "2/15 Smith St", "5th Ave 350 Apt 3"),
// street-type words abbreviated (see normStreet). A street field of several
// lines ("40 Dock Road" with "Rose Cottage" or "Unit 2" below or above it)
// is read from the line with a house number; a unit on another line counts.
func ParseStreetLine(line string) StreetLine {
	if !strings.Contains(line, "\n") {
		return parseOneLine(line)
	}
	var first, best StreetLine
	var unit string
	found, seen := false, false
	for _, l := range strings.Split(line, "\n") {
		p := parseOneLine(l)
		if p == (StreetLine{}) {
			continue
		}
		if !seen {
			first, seen = p, true
		}
		switch {
		case !found && p.Number != "" && p.Street != "":
			best, found = p, true
		case unit == "" && p.Unit != "" && p.Street == "":
			unit = p.Unit
		}
	}
	if !found {
		return first
	}
	if best.Unit == "" {
		best.Unit = unit
	}
	return best
}

// streetLines is an address's street with its second line (street2, a
// building, unit or c/o) below it, as ParseStreetLine and streetNames read
// a street field of several lines: one system keeps the building in
// street2, another in the street field's second line, a third before the
// street, and all three compare alike.
func streetLines(a hub.Address) string {
	s2 := strings.TrimSpace(a.Street2)
	if s2 == "" {
		return a.Street
	}
	if strings.TrimSpace(a.Street) == "" {
		return s2
	}
	return a.Street + "\n" + s2
}

// streetNames are the normalized street names of every line of a street
// field: two systems may keep the street and a building or property name
// in either order.
func streetNames(line string) []string {
	var out []string
	for _, l := range strings.Split(line, "\n") {
		if p := parseOneLine(l); p.Street != "" {
			out = append(out, p.Street)
		}
	}
	return out
}

// lineSeparators split "Unit 2, 40 Dock Road" and "#3" into words; built
// once, as a replacer per call cost a fifth of scoring.
var lineSeparators = strings.NewReplacer(",", " ", "#", " # ")

func parseOneLine(line string) StreetLine {
	line = lineSeparators.Replace(line)
	f := strings.Fields(normStreet(line))
	var out StreetLine
	// Units and floors first: "unit 2" / "apt B" / "level 3" anywhere,
	// "3rd floor" after its number, or "2/15" as the number.
	var rest []string
	for i := 0; i < len(f); i++ {
		w := f[i]
		switch {
		case unitWords[w] && i+1 < len(f) && isUnitValue(f[i+1]):
			out.Unit = f[i+1]
			// "Unit 4/12 Oak St": unit 4 of number 12.
			if u, n, ok := strings.Cut(out.Unit, "/"); ok && u != "" && isNumWord(n) {
				out.Unit = u
				f[i+1] = n
				continue
			}
			i++
			continue
		case floorWords[w] && i+1 < len(f) && isFloorNumber(f[i+1]) && (len(rest) > 0 || i+2 < len(f)):
			i++
			continue
		case floorWords[w] && len(rest) > 1 && isFloorNumber(rest[len(rest)-1]):
			rest = rest[:len(rest)-1]
			continue
		}
		rest = append(rest, w)
	}
	isNum := func(w string) bool { return isNumWord(w) }
	take := func(w string) {
		if u, n, ok := strings.Cut(w, "/"); ok && u != "" && n != "" {
			out.Unit, w = u, n
		}
		out.Number = w
	}
	switch {
	case len(rest) > 2 && isNum(rest[0]) && isNum(rest[1]):
		// A range of house numbers ("12-14 Oak St"): the house is the
		// first, as a system that keeps one number writes it.
		take(rest[0])
		rest = rest[2:]
	case len(rest) > 2 && isNum(rest[len(rest)-1]) && isNum(rest[len(rest)-2]):
		take(rest[len(rest)-2]) // "Hauptstr. 12-14"
		rest = rest[:len(rest)-2]
	case len(rest) > 1 && isNum(rest[0]):
		take(rest[0])
		rest = rest[1:]
		// French "12 bis rue …": bis/ter belong to the number.
		if len(rest) > 1 && (rest[0] == "bis" || rest[0] == "ter") {
			out.Number += rest[0]
			rest = rest[1:]
		}
	case len(rest) > 1 && isNum(rest[len(rest)-1]):
		take(rest[len(rest)-1])
		rest = rest[:len(rest)-1]
	case len(rest) == 1 && isNum(rest[0]):
		// A house number whose street was left out ("15" in the street
		// field, the property's name below it) names no street.
		take(rest[0])
		rest = nil
	}
	out.Street = strings.Join(rest, " ")
	return out
}

// isNumWord reports whether a word is a house number: starts with a digit
// and is not an ordinal street name ("5th").
func isNumWord(w string) bool {
	if w == "" || w[0] < '0' || w[0] > '9' {
		return false
	}
	for _, suf := range []string{"st", "nd", "rd", "th"} {
		if strings.HasSuffix(w, suf) && len(w) > 2 && w[len(w)-3] >= '0' && w[len(w)-3] <= '9' {
			return false
		}
	}
	return true
}

// NormalizePostcode reduces a postal code to what tells places apart: upper
// case without spaces ("sw1a 1aa" = "SW1A1AA"), a US ZIP+4 to its ZIP
// ("94105-1804", "94105 1804", "941051804" = "94105"), an old country
// prefix dropped ("D-10115").
func NormalizePostcode(p string) string {
	p = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(p), " ", ""))
	if len(p) > 2 && p[1] == '-' && p[0] >= 'A' && p[0] <= 'Z' && p[2] >= '0' && p[2] <= '9' {
		p = p[2:]
	}
	if len(p) == 10 && p[5] == '-' && allDigits(p[:5]) && allDigits(p[6:]) {
		p = p[:5]
	}
	// ZIP+4 written with a space (gone above) or without a separator, as
	// databases that keep the ZIP9 as one number do: no other country's
	// postal codes have nine digits.
	if len(p) == 9 && allDigits(p) {
		p = p[:5]
	}
	return p
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
