package funcs

import (
	"testing"

	"github.com/shopspring/decimal"
)

// TestValueFunctions: the library answers on its own, without the
// language, as the mapping functions' examples say.
func TestValueFunctions(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"Gender salutation", Gender(" Mrs. "), "female"},
		{"Gender unknown word", Gender("Dr."), ""},
		{"BirthDate dotted", BirthDate("02.01.1990", ""), "1990-01-02"},
		{"BirthDate slashed mdy", BirthDate("1/2/1990", "mdy"), "1990-01-02"},
		{"BirthDate ambiguous", BirthDate("1/2/1990", ""), ""},
		{"BirthDate impossible", BirthDate("31.02.1990", ""), ""},
		{"Email display name", Email(`"Hans" <Hans@Example.DE>`), "hans@example.de"},
		{"Email invalid", Email("hans@example"), ""},
		{"CountryCode German name", CountryCode("Österreich"), "AT"},
		{"PhoneRegion name", PhoneRegion("Deutschland"), "DE"},
		{"PhoneRegion unknown", PhoneRegion("Atlantis"), ""},
		{"Phone national", Phone("030 1234567", "DE"), "+49301234567"},
		{"Phone no region", Phone("030 1234567", "ZZ"), ""},
		{"Collapse", Collapse(" a \u00a0 b "), "a b"},
		{"TitleCase", TitleCase("hans MÜLLER"), "Hans Müller"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if g, f := SplitName("Dr. Hans von Müller"); g != "Hans" || f != "von Müller" {
		t.Errorf("SplitName: %q %q", g, f)
	}
	if a, c := SplitCurrency("12,50 EUR"); a != "12,50" || c != "EUR" {
		t.Errorf("SplitCurrency: %q %q", a, c)
	}
	if d, ok, err := ParseDecimal("1.234,50", "de"); !ok || err != nil || DecimalString(d) != "1234.50" {
		t.Errorf("ParseDecimal: %v %v %v", d, ok, err)
	}
	if _, _, err := ParseDecimal("1,234", ""); err == nil {
		t.Error("ParseDecimal guessed an ambiguous number")
	}
	if got := MoneyAmount(mustDecimal(t, "5"), MinorUnits("EUR")); got != "5.00" {
		t.Errorf("MoneyAmount: %q", got)
	}
}

func mustDecimal(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, ok, err := ParseDecimal(s, "en")
	if !ok || err != nil {
		t.Fatal(s, err)
	}
	return d
}
