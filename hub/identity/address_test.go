package identity

import (
	"testing"

	"github.com/crmhub/crmhub/hub"
)

func TestParseStreetLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want StreetLine
	}{
		{"Hauptstr. 5", StreetLine{"hauptstr", "5", ""}},               // DE
		{"Hauptstraße 5a", StreetLine{"hauptstr", "5a", ""}},           // DE
		{"Am Markt 12, Whg 3", StreetLine{"am markt", "12", "3"}},      // DE
		{"40 Dock Road", StreetLine{"dock rd", "40", ""}},              // UK
		{"Flat 2, 11 Baker Street", StreetLine{"baker st", "11", "2"}}, // UK
		{"350 5th Avenue Apt 3", StreetLine{"5th ave", "350", "3"}},    // US
		{"1600 Pennsylvania Ave NW", StreetLine{"pennsylvania ave nw", "1600", ""}},
		{"2/15 Smith St", StreetLine{"smith st", "15", "2"}},               // AU
		{"Unit 4, 11 Yampi Place", StreetLine{"yampi pl", "11", "4"}},      // AU
		{"12 bis rue de la Paix", StreetLine{"r de la paix", "12bis", ""}}, // FR
		{"8 Avenue des Champs", StreetLine{"ave des champs", "8", ""}},     // FR
		{"Dock Road", StreetLine{"dock rd", "", ""}},
		{"15", StreetLine{"", "15", ""}},          // the street left out
		{"2/15", StreetLine{"", "15", "2"}},       // a unit of a number, the street left out
		{"15\nJodayne", StreetLine{"", "15", ""}}, // the property's name below
		// Second lines: a building's or property's name, a unit.
		{"40 Dock Road\nRose Cottage", StreetLine{"dock rd", "40", ""}},
		{"Rose Cottage\n40 Dock Road", StreetLine{"dock rd", "40", ""}},
		{"92 mcintyre street\napt 27", StreetLine{"mcintyre st", "92", "27"}},
		{"Rose Cottage\nDock Road", StreetLine{"rose cottage", "", ""}},
		// Units with a letter, and the designators of USPS Publication 28
		// and of other countries.
		{"93722 Hermina Stream Apt. 244", StreetLine{"hermina stream", "93722", "244"}}, // US
		{"12 Oak Street Apt B", StreetLine{"oak st", "12", "b"}},                        // US
		{"12 Oak St Ste. 100", StreetLine{"oak st", "12", "100"}},                       // US
		{"12 Oak St Bldg 4", StreetLine{"oak st", "12", "4"}},                           // US
		{"12 Oak St, Unit C", StreetLine{"oak st", "12", "c"}},                          // US
		{"Flat A, 12 Oak Road", StreetLine{"oak rd", "12", "a"}},                        // UK
		{"Shop 4, 12 Oak St", StreetLine{"oak st", "12", "4"}},                          // AU
		{"Unit 4/12 Oak St", StreetLine{"oak st", "12", "4"}},                           // AU
		{"3 rue de la Paix, Bât. B", StreetLine{"r de la paix", "3", "b"}},              // FR
		{"12 Flat Rock Rd", StreetLine{"flat rock rd", "12", ""}},                       // a street named like a unit
		// Floors are left out: one system writes them, another not.
		{"12 Oak St Fl 3", StreetLine{"oak st", "12", ""}},
		{"Level 2, 12 Oak St", StreetLine{"oak st", "12", ""}},              // AU
		{"12 Oak St, 3rd Floor", StreetLine{"oak st", "12", ""}},            // US, UK
		{"Hauptstraße 5, 2. OG", StreetLine{"hauptstr", "5", ""}},           // DE
		{"5 rue de la Paix, 2e étage", StreetLine{"r de la paix", "5", ""}}, // FR
		// A range of house numbers is its first.
		{"12-14 Oak St", StreetLine{"oak st", "12", ""}},
		{"Hauptstr. 12-14", StreetLine{"hauptstr", "12", ""}},
	} {
		if got := ParseStreetLine(tc.in); got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestNormalizePostcode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"10115", "10115"},      // DE
		{"D-10115", "10115"},    // DE, old style
		{"sw1a 1aa", "SW1A1AA"}, // UK
		{"94105-1804", "94105"}, // US ZIP+4
		{"94105", "94105"},      // US
		{"2000", "2000"},        // AU
		{"75008", "75008"},      // FR
		{"F-75008", "75008"},    // FR, old style
		{"94105 1804", "94105"}, // US ZIP+4 with a space
		{"941051804", "94105"},  // US ZIP9 kept as one number
		{"1234567", "1234567"},  // seven digits are no ZIP+4
	} {
		if got := NormalizePostcode(tc.in); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// House numbers before the street are read: "0 Dock Road" and "40 Dock
// Road" are two firms, "40 Dock Road" and "Dock Rd 40" one.
func TestHouseNumberBeforeStreet(t *testing.T) {
	org := func(id, street string) Record {
		return Record{System: "erp", SourceEntity: "customer", SourceID: id, Customer: hub.Customer{Kind: "organization",
			OrganizationName: "Harbour Freight Ltd", Addresses: []hub.Address{{Street: street, PostalCode: "SW1A 1AA", Country: "GB"}}}}
	}
	r := New(Config{Fuzzy: DefaultFuzzy()})
	if got := r.Resolve([]Record{org("1", "0 Dock Road"), org("2", "40 Dock Road")}, nil); len(got.Clusters) != 2 {
		t.Errorf("0 and 40 Dock Road merged")
	}
	if got := r.Resolve([]Record{org("1", "40 Dock Road"), org("2", "Dock Rd 40")}, nil); len(got.Clusters) != 1 {
		t.Errorf("40 Dock Road and Dock Rd 40 not merged: %+v", got.Reviews)
	}
}

// street2 is the street's second line: a building or unit kept there
// compares as the same text on the street field's second line does, and a
// unit there tells two flats of one house apart.
func TestStreet2(t *testing.T) {
	at := func(street, street2 string) hub.Address {
		return hub.Address{Street: street, Street2: street2, PostalCode: "2600", City: "Canberra", Country: "AU"}
	}
	for _, tc := range []struct {
		name string
		x, y hub.Address
		want string
	}{
		{"building in street2 vs on the second line", at("40 Dock Road", "Rose Cottage"), at("40 Dock Road\nRose Cottage", ""), LevelExact},
		{"building in street2 vs before the street", at("40 Dock Road", "Rose Cottage"), at("Rose Cottage", "40 dock rd"), LevelExact},
		{"only street2 holds the street", at("", "40 Dock Road"), at("40 Dock Road", ""), LevelExact},
		{"the same unit", at("92 Mcintyre Street", "Apt 27"), at("92 Mcintyre St", "apt 27"), LevelExact},
		{"another unit of the house", at("92 Mcintyre Street", "Apt 27"), at("92 Mcintyre Street", "Apt 28"), LevelOtherNumber},
	} {
		if got := addressPair(tc.x, tc.y); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// The street block key reads street2 too.
	c := hub.Customer{Kind: "person", FamilyName: "Quill", Addresses: []hub.Address{at("", "40 Dock Road")}}
	found := false
	for _, k := range personBlockKeys(c) {
		found = found || k == "sh:dock rd|40"
	}
	if !found {
		t.Errorf("block keys %v: want the street and house number of street2", personBlockKeys(c))
	}
}

// A postal code a spreadsheet read as a number lost its leading zero; it
// is the same code, while a code that differs otherwise stays another.
func TestPostcodeLeadingZero(t *testing.T) {
	for _, tc := range []struct{ x, y, want string }{
		{"06419", "6419", LevelExact},      // US, New England
		{"06419-6160", "6419", LevelExact}, // US, ZIP+4 on one side
		{"01067", "1067", LevelExact},      // DE, Dresden
		{"0800", "800", LevelExact},        // AU, Darwin
		{"06419", "064196160", LevelExact}, // ZIP9 without its dash
		{"06419", "6418", LevelElse},       // another code
		{"10115", "1015", LevelElse},       // a digit lost in the middle is no lost zero
		{"007", "7", LevelElse},            // too short to tell
	} {
		if got := postcodeLevel(tc.x, tc.y); got != tc.want {
			t.Errorf("postcodeLevel(%q, %q) = %q, want %q", tc.x, tc.y, got, tc.want)
		}
	}
}

// Accents one system keeps and another drops fold alike, in names and
// streets of French, Spanish, Portuguese and Nordic data.
func TestFoldAccents(t *testing.T) {
	for _, tc := range [][2]string{{"Jérôme", "jerome"}, {"Noël", "noel"}, {"Anaïs", "anais"}, {"João", "joao"},
		{"Bjørn", "bjorn"}, {"Ångström", "angstroem"}, {"Rue de la Fenêtre", "rue de la fenetre"}, {"Müller", "mueller"}} {
		if got := foldName(tc[0]); got != tc[1] {
			t.Errorf("foldName(%q) = %q, want %q", tc[0], got, tc[1])
		}
	}
}
