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
