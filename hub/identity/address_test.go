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
		// Second lines: a building's or property's name, a unit.
		{"40 Dock Road\nRose Cottage", StreetLine{"dock rd", "40", ""}},
		{"Rose Cottage\n40 Dock Road", StreetLine{"dock rd", "40", ""}},
		{"92 mcintyre street\napt 27", StreetLine{"mcintyre st", "92", "27"}},
		{"Rose Cottage\nDock Road", StreetLine{"rose cottage", "", ""}},
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
