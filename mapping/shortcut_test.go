package mapping

import "testing"

var shortcutStrings = []string{"", " ", "a", "a b", "a  b", " a", "a ", "a\tb", "a\u00a0b", "a\u0085b", "Müller GmbH", "x\ny", "a \xff b", "\xff",
	"EUR 12,50", "12,50 EUR", "12,50 eur", "12,50", "EU", "USD", "1 USDX", "ABc", "\nEUR", "EUR\n", "12.00 CHF", "€ 5"}

// The shortcut in money must agree (collapse's is tested in package funcs) with what they spare.
func TestShortcutsAreExact(t *testing.T) {
	for _, s := range shortcutStrings {
		if !mayHaveCode(s) && codeInText.MatchString(s) {
			t.Errorf("mayHaveCode(%q) = false but codeInText matches", s)
		}
	}
}

func FuzzShortcuts(f *testing.F) {
	for _, s := range shortcutStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !mayHaveCode(s) && codeInText.MatchString(s) {
			t.Errorf("mayHaveCode(%q) = false but codeInText matches", s)
		}
	})
}
