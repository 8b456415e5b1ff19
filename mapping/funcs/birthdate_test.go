package funcs

import "testing"

func TestSlashOrder(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   string
	}{
		{[]string{"12/31/1990", "1/2/1985", ""}, "mdy"},
		{[]string{"31/12/1990", "1/2/1985", "1990-01-02"}, "dmy"},
		{[]string{"1/2/1985", "3/4/1970"}, ""},             // nothing tells
		{[]string{"31/12/1990", "12/31/1990"}, ""},         // the values disagree
		{[]string{"1990-12-31", "02.01.1990", "1985"}, ""}, // no slashed date
		{[]string{" 13/01/2001 "}, "dmy"},
	} {
		if got := SlashOrder(tc.values); got != tc.want {
			t.Errorf("SlashOrder(%q) = %q, want %q", tc.values, got, tc.want)
		}
	}
}

func TestBirthDateFormats(t *testing.T) {
	for _, tc := range []struct{ in, order, want string }{
		{"1990-01-02", "", "1990-01-02"},
		{"1985-01-02 00:00:00", "", "1985-01-02"},
		{"1985-01-02T00:00:00Z", "", "1985-01-02"},
		{"1985-01-02T00:00:00.000+01:00", "", "1985-01-02"},
		{"1990/01/02", "", "1990-01-02"},
		{"1990.1.2", "", "1990-01-02"},
		{"02.01.1990", "", "1990-01-02"},
		{"2 January 1985", "", "1985-01-02"},
		{"Jan 2, 1985", "", "1985-01-02"},
		{"January 2nd, 1985", "", "1985-01-02"},
		{"02-Jan-1985", "", "1985-01-02"},
		{"3. März 1970", "", "1970-03-03"},
		{"12 décembre 1950", "", "1950-12-12"},
		{"13-01-1990", "", "1990-01-13"},
		{"01-13-1990", "", "1990-01-13"},
		{"01-02-1990", "", ""},
		{"01-02-1990", "dmy", "1990-02-01"},
		{"1/2/1990", "mdy", "1990-01-02"},
		{"30 February 1990", "", ""},
		{"2 Foo 1985", "", ""},
		{"2-Jan-85", "", ""}, // two-digit year: the century is not guessed
		{"02.01.90", "", ""},
		{"1985-01-02T25:00", "", ""},
	} {
		if got := BirthDate(tc.in, tc.order); got != tc.want {
			t.Errorf("BirthDate(%q, %q) = %q, want %q", tc.in, tc.order, got, tc.want)
		}
	}
}
