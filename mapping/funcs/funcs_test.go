package funcs

import (
	"testing"
	"time"

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

func TestParseTime(t *testing.T) {
	berlin, err := Location("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		s, layout string
		want      string // RFC 3339 UTC; "" : not ok
		wantErr   bool
	}{
		{"01.07.2024 14:30", "DD.MM.YYYY HH:mm", "2024-07-01T12:30:00Z", false},
		{"2024-07-01", "DD.MM.YYYY|YYYY-MM-DD", "2024-06-30T22:00:00Z", false},
		{"  ", "DD.MM.YYYY", "", false},
		{"July 1", "DD.MM.YYYY", "", true},
	}
	for _, tc := range tests {
		got, ok, err := ParseTime(tc.s, tc.layout, berlin)
		if (err != nil) != tc.wantErr || ok != (tc.want != "") || ok && got.UTC().Format(time.RFC3339) != tc.want {
			t.Errorf("ParseTime(%q, %q) = %v %v %v, want %q (error %v)", tc.s, tc.layout, got, ok, err, tc.want, tc.wantErr)
		}
	}
	if _, err := Location("Mars/Olympus"); err == nil {
		t.Error("an unknown zone loaded")
	}
}
