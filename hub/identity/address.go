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

var unitWords = map[string]bool{"unit": true, "apt": true, "apartment": true, "flat": true, "suite": true, "ste": true,
	"wohnung": true, "whg": true, "app": true, "appt": true, "appartement": true, "#": true}

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
	// Units first: "unit 2" / "apt 3" anywhere, or "2/15" as the number.
	var rest []string
	for i := 0; i < len(f); i++ {
		w := f[i]
		if unitWords[w] && i+1 < len(f) && isNumWord(f[i+1]) {
			out.Unit = f[i+1]
			i++
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
// ("94105-1804" = "94105"), an old country prefix dropped ("D-10115").
func NormalizePostcode(p string) string {
	p = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(p), " ", ""))
	if len(p) > 2 && p[1] == '-' && p[0] >= 'A' && p[0] <= 'Z' && p[2] >= '0' && p[2] <= '9' {
		p = p[2:]
	}
	if len(p) == 10 && p[5] == '-' && allDigits(p[:5]) && allDigits(p[6:]) {
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
