package identity

import (
	"regexp"
	"strings"

	"github.com/crmhub/crmhub/hub"
)

// An address kept in one field ("8 Stanley St, Winston Hills NSW 2153",
// "Hauptstr. 5, 10115 Berlin", "Flat 3, 22 Baker Street, London NW1 6XE"),
// as many CRM exports and web forms give it, has no postal code or city
// of its own: the matcher then had nothing to block on but the street and
// compared two such lines as "else" (issue #15: FEBRL 4a+4b with the
// address in one field scored F1 0.827, below the 0.868 of no address at
// all). splitOneLine reads such a line into street, street2, city, region
// and postal code for matching only; the stored record keeps what the
// source sent.

var (
	ukPostcodeOut = regexp.MustCompile(`^[A-Z]{1,2}[0-9][A-Z0-9]?$`)
	ukPostcodeIn  = regexp.MustCompile(`^[0-9][A-Z]{2}$`)
	caPostcodeOut = regexp.MustCompile(`^[A-Z][0-9][A-Z]$`)
	caPostcodeIn  = regexp.MustCompile(`^[0-9][A-Z][0-9]$`)
	nlLetters     = regexp.MustCompile(`^[A-Z]{2}$`)
)

// regionCodes are the state and province abbreviations written between a
// city and its postal code (US, Australia, Canada): "Springfield, IL 62704",
// "Winston Hills NSW 2153". Only these are read as a region, so a short
// city name ("Ely", "Bad Ems") stays the city.
var regionCodes = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(`AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE
		NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR
		NSW VIC QLD SA WA TAS NT ACT
		ON QC BC AB MB SK NS NB NL PE YT NU`) {
		m[c] = true
	}
	return m
}()

// splitOneLine returns a with a one-line address read into its parts:
// only where the address has no postal code and no city of its own, its
// street holds comma-separated parts, and a part after the first holds a
// postal code (four to six digits, a ZIP+4, a British, Canadian or Dutch
// code). The postal code's part gives the city (the words beside the code,
// without a state's abbreviation) or, where it holds only the code and a
// state, the part before it does; the parts between the street and the city
// are the second street line; parts after the code (a country) are dropped.
// Without a postal code anywhere, a last part without digits is the city
// where a part before it holds a house number. Anything else is returned
// as it is.
func splitOneLine(a hub.Address) hub.Address {
	if strings.TrimSpace(a.PostalCode) != "" || strings.TrimSpace(a.City) != "" || !strings.Contains(a.Street, ",") {
		return a
	}
	var parts []string
	for _, p := range strings.FieldsFunc(a.Street+","+a.Street2, func(r rune) bool { return r == ',' || r == '\n' }) {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	i, code, rest := codePart(parts)
	if i < 0 {
		// No postal code (missing in that record, as a copy's often is):
		// the last part is the city where it holds no digit and a part
		// before it does (a house number, checked below), so that the
		// line still meets a copy that gives the code ("Rose Cottage,
		// Mill Lane" has no number: kept).
		i = len(parts) - 1
		if i < 1 || strings.ContainsAny(parts[i], digitChars) {
			return a
		}
		rest = strings.Fields(parts[i])
	}
	region := ""
	if n := len(rest); n > 0 && regionCodes[strings.ToUpper(rest[n-1])] && (n > 1 || i >= 2) {
		region, rest = rest[n-1], rest[:n-1]
	}
	city, lines := strings.Join(rest, " "), parts[:i]
	if city == "" {
		if i < 2 {
			return a // the street and a code: no city to read
		}
		city, lines = parts[i-1], parts[:i-1]
	}
	if code == "" && !strings.ContainsAny(strings.Join(lines, " "), digitChars) {
		return a
	}
	out := a
	out.Street, out.Street2, out.City, out.PostalCode = lines[0], strings.Join(lines[1:], ", "), city, code
	if out.Region == "" {
		out.Region = region
	}
	return out
}

// codePart finds the last part after the first that holds a postal code,
// with the code and the part's other words; i is -1 where none does.
func codePart(parts []string) (i int, code string, rest []string) {
	for i := len(parts) - 1; i >= 1; i-- {
		code, rest, ok := postcodeIn(parts[i])
		if ok && !streetLike(rest) {
			// ("1234 Main Road" is a house number and its street, not a
			// postal code and its city.)
			return i, code, rest
		}
	}
	return -1, "", nil
}

// postcodeIn finds a postal code in one part of a one-line address and
// returns it with the part's other words.
func postcodeIn(part string) (code string, rest []string, ok bool) {
	w := strings.Fields(part)
	up := make([]string, len(w))
	for i, x := range w {
		up[i] = strings.ToUpper(x)
	}
	for i := range w {
		switch x := up[i]; {
		case i+1 < len(w) && (ukPostcodeOut.MatchString(x) && ukPostcodeIn.MatchString(up[i+1]) ||
			caPostcodeOut.MatchString(x) && caPostcodeIn.MatchString(up[i+1])):
			return x + " " + up[i+1], append(w[:i:i], w[i+2:]...), true
		case len(x) == 4 && allDigits(x) && i+1 < len(w) && nlLetters.MatchString(up[i+1]):
			return x + " " + up[i+1], append(w[:i:i], w[i+2:]...), true
		case len(x) >= 4 && len(x) <= 6 && allDigits(x), len(x) == 10 && x[5] == '-' && allDigits(x[:5]) && allDigits(x[6:]):
			if i > 0 && (up[i-1] == "BOX" || up[i-1] == "NO" || up[i-1] == "NO.") {
				continue // a post-office box or a number, not a code
			}
			return x, append(w[:i:i], w[i+1:]...), true
		}
	}
	return "", nil, false
}

// matchAddresses are c's addresses as the matcher reads them: one-line
// addresses read into their parts (splitOneLine). c's own slice is
// returned where none is one line.
func matchAddresses(c hub.Customer) []hub.Address {
	var out []hub.Address
	for i, a := range c.Addresses {
		s := splitOneLine(a)
		if s == a && out == nil {
			continue
		}
		if out == nil {
			out = append(make([]hub.Address, 0, len(c.Addresses)), c.Addresses[:i]...)
		}
		out = append(out, s)
	}
	if out == nil {
		return c.Addresses
	}
	return out
}

// streetLike reports whether words name a street: a street-type word after
// a name ("Main Road", "rue Victor Hugo") or a German street's ending
// ("Hauptstraße", "Gartenweg").
func streetLike(words []string) bool {
	for _, w := range words {
		w = strings.TrimSuffix(foldName(w), ".")
		// A type word names a street only after a name: "St" alone
		// beside a code is a state's abbreviation or a slip.
		if _, ok := streetWords[w]; ok && len(words) > 1 {
			return true
		}
		switch w {
		case "st", "rd", "ave", "dr", "ln", "ct", "pl", "cres", "tce", "hwy", "str", "way", "circuit", "cct":
			if len(words) > 1 {
				return true
			}
		}
		for _, suf := range []string{"strasse", "straße", "str", "weg", "gasse", "allee", "platz"} {
			if len(w) > len(suf)+2 && strings.HasSuffix(w, suf) {
				return true
			}
		}
	}
	return false
}
