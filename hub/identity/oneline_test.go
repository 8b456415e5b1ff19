package identity

import (
	"slices"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub"
)

func TestSplitOneLine(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       hub.Address
	}{
		{"Germany", "Hauptstr. 5, 10115 Berlin", hub.Address{Street: "Hauptstr. 5", PostalCode: "10115", City: "Berlin"}},
		{"France", "12 rue de la Paix, 75002 Paris, France", hub.Address{Street: "12 rue de la Paix", PostalCode: "75002", City: "Paris"}},
		{"UK, code beside the city", "10 Downing Street, London SW1A 2AA", hub.Address{Street: "10 Downing Street", PostalCode: "SW1A 2AA", City: "London"}},
		{"UK, flat and code apart", "Flat 3, 22 Baker Street, London, NW1 6XE, United Kingdom",
			hub.Address{Street: "Flat 3", Street2: "22 Baker Street", PostalCode: "NW1 6XE", City: "London"}},
		{"US, state and ZIP+4", "123 Main St, Apt 4, Springfield, IL 62704-1234",
			hub.Address{Street: "123 Main St", Street2: "Apt 4", PostalCode: "62704-1234", City: "Springfield", Region: "IL"}},
		{"Australia, state beside the suburb", "8 Stanley St, Winston Hills NSW 2153",
			hub.Address{Street: "8 Stanley St", PostalCode: "2153", City: "Winston Hills", Region: "NSW"}},
		{"Australia, FEBRL's order", "8 stanley street, miami, winston hills, nsw 4223",
			hub.Address{Street: "8 stanley street", Street2: "miami", PostalCode: "4223", City: "winston hills", Region: "nsw"}},
		{"Netherlands", "Damrak 1, 1012 LG Amsterdam", hub.Address{Street: "Damrak 1", PostalCode: "1012 LG", City: "Amsterdam"}},
		{"Canada", "24 Sussex Dr, Ottawa ON K1M 1M4", hub.Address{Street: "24 Sussex Dr", PostalCode: "K1M 1M4", City: "Ottawa", Region: "ON"}},
		{"no code: the last part is the city", "4937 Jerimy Knolls, Champlinville", hub.Address{Street: "4937 Jerimy Knolls", City: "Champlinville"}},
		{"no code, a state after the city", "4937 Jerimy Knolls, Champlinville, NY", hub.Address{Street: "4937 Jerimy Knolls", City: "Champlinville", Region: "NY"}},
		{"a short city is no state", "Römerstr. 3, 56130 Bad Ems", hub.Address{Street: "Römerstr. 3", PostalCode: "56130", City: "Bad Ems"}},
		{"a box number is no code", "PO Box 1234, Springfield", hub.Address{Street: "PO Box 1234", City: "Springfield"}},
		{"no number anywhere: kept", "Rose Cottage, Mill Lane", hub.Address{Street: "Rose Cottage, Mill Lane"}},
		{"one part: kept", "Hauptstr. 5", hub.Address{Street: "Hauptstr. 5"}},
		{"a long house number is no code", "Unit 5, 1234 Main Road, Springfield",
			hub.Address{Street: "Unit 5", Street2: "1234 Main Road", City: "Springfield"}},
		{"a long house number, then the code", "1234 Main Road, Springfield, IL 62704",
			hub.Address{Street: "1234 Main Road", PostalCode: "62704", City: "Springfield", Region: "IL"}},
		{"a type word alone beside the code is no street (a mistyped state: read as the city)", "2 Quiros Street, Arana Hills, St 2250",
			hub.Address{Street: "2 Quiros Street", Street2: "Arana Hills", PostalCode: "2250", City: "St"}},
		{"a German street with a long number is no code", "c/o Meier, 10115 Gartenweg, Berlin",
			hub.Address{Street: "c/o Meier", Street2: "10115 Gartenweg", City: "Berlin"}},
		{"the street and a code, no city: kept", "Hauptstr. 5, 10115", hub.Address{Street: "Hauptstr. 5, 10115"}},
	} {
		if got := splitOneLine(hub.Address{Street: tc.line}); got != tc.want {
			t.Errorf("%s: %q read as %+v, want %+v", tc.name, tc.line, got, tc.want)
		}
	}
	// An address with a postal code or a city of its own is what the
	// source says it is, commas or not.
	for _, a := range []hub.Address{
		{Street: "Flat 3, 22 Baker Street", PostalCode: "NW1 6XE"},
		{Street: "Hauptstr. 5, Hinterhaus", City: "Berlin"},
	} {
		if got := splitOneLine(a); got != a {
			t.Errorf("%+v read as %+v, want it kept", a, got)
		}
	}
}

// A one-line address meets and compares with the same address given in
// its fields: the same blocks, the same house.
func TestOneLineAddressMatchesFields(t *testing.T) {
	line := hub.Customer{Kind: "person", GivenName: "Michaela", FamilyName: "Neumann", BirthDate: "1985-11-11",
		Addresses: []hub.Address{{Street: "8 Stanley St, Winston Hills NSW 2153"}}}
	fields := line
	fields.BirthDate = "1985-11-12"
	fields.Addresses = []hub.Address{{Street: "8 Stanley Street", PostalCode: "2153", City: "Winston Hills", Region: "NSW", Country: "AU"}}
	if got := addressPair(splitOneLine(line.Addresses[0]), fields.Addresses[0]); got != LevelExact {
		t.Errorf("address level %q, want exact", got)
	}
	p := DefaultParams()
	m := p.MatchPeople(line, fields, "AU", true)
	if lv := levelOf(m, CompAddress); lv != LevelExact {
		t.Errorf("MatchPeople: address level %q, want exact", lv)
	}
	lk, fk := blockKeys(line, "AU", true), blockKeys(fields, "AU", true)
	if !slices.ContainsFunc(lk, func(k string) bool { return strings.HasPrefix(k, "sh:") && slices.Contains(fk, k) }) {
		t.Errorf("no street block shared: %v / %v", lk, fk)
	}
	if !slices.ContainsFunc(lk, func(k string) bool { return slices.Contains(fk, k) }) {
		t.Errorf("no postal-code block shared: %v", lk)
	}
}
