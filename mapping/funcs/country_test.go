package funcs

import "testing"

// TestCountryNames holds country() to the full ISO 3166-1 table: every
// code, names in four languages, official names and the variants sources
// write. Before the full table, "Venezuela" and most of these were nil.
func TestCountryNames(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Venezuela", "VE"},
		{"Bolivarian Republic of Venezuela", "VE"},
		{"República Bolivariana de Venezuela", "VE"},
		{"USA", "US"},
		{"U.S.", "US"},
		{"u.s.a.", "US"},
		{"United States of America", "US"},
		{"États-Unis", "US"},
		{"Estados Unidos", "US"},
		{"Vereinigte Staaten", "US"},
		{"UK", "GB"},
		{"Great Britain", "GB"},
		{"Royaume-Uni", "GB"},
		{"Reino Unido", "GB"},
		{"Deutschland", "DE"},
		{"Allemagne", "DE"},
		{"Alemania", "DE"},
		{"Bundesrepublik Deutschland", "DE"},
		{"Österreich", "AT"},
		{"Oesterreich", "AT"},
		{"Autriche", "AT"},
		{"Suiza", "CH"},
		{"Côte d'Ivoire", "CI"},
		{"Ivory Coast", "CI"},
		{"Elfenbeinküste", "CI"},
		{"Türkiye", "TR"},
		{"Turkey", "TR"},
		{"Nordkorea", "KP"},
		{"Corea del Sur", "KR"},
		{"the Netherlands", "NL"},
		{"Pays-Bas", "NL"},
		{"Eswatini", "SZ"},
		{"Burma", "MM"},
		{"Tschechien", "CZ"},
		{"República Checa", "CZ"},
		{"Kosovo", "XK"},
		{"ZW", "ZW"},
		{"zwe", "ZW"},
		{"BVT", "BV"},
		{"Guinea", "GN"},
		{"Guinea-Bissau", "GW"},
		{"Dominica", "DM"},
		{"Dominican Republic", "DO"},
		{"Niger", "NE"},
		{"Nigeria", "NG"},
		// Not a country, or not one country: nil and a warning, not a guess.
		{"Congo", ""},
		{"Atlantis", ""},
		{"XX", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := countryCodeUncached(tt.in); got != tt.want {
				t.Errorf("country(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestCountryTableComplete: every assigned ISO 3166-1 code has a row with
// its alpha-3 code and a name in each of the four languages, and each of
// those names finds its own row.
func TestCountryTableComplete(t *testing.T) {
	cs := Countries()
	if len(cs) < 249 {
		t.Fatalf("%d countries, want the full ISO 3166-1 table (249 and XK)", len(cs))
	}
	for _, c := range cs {
		if len(c.Alpha3) != 3 || c.English == "" || c.German == "" || c.French == "" || c.Spanish == "" {
			t.Errorf("incomplete row %+v", c)
			continue
		}
		for _, n := range []string{c.Alpha2, c.Alpha3, c.English} {
			if got := countryCodeUncached(n); got != c.Alpha2 {
				t.Errorf("country(%q) = %q, want %q", n, got, c.Alpha2)
			}
		}
	}
}
