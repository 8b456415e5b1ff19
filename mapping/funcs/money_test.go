package funcs

import "testing"

var shortcutStrings = []string{"", " ", "a", "a b", "a  b", " a", "a ", "a\tb", "a\u00a0b", "a\u0085b", "Müller GmbH", "x\ny", "a \xff b", "\xff",
	"EUR 12,50", "12,50 EUR", "12,50 eur", "12,50", "EU", "USD", "1 USDX", "ABc", "\nEUR", "EUR\n", "12.00 CHF", "€ 5"}

// TestShortcutsAreExact: mayHaveCode (SplitCurrency's shortcut) is false
// only where codeInText cannot match.
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

var moneyEdges = []string{"0", "1", "10", "1234.50", "1234.5", "1234.567", "0.5", "0.05", "00.5", "01", "-1", "-0", "-0.00", "-0.01", "-10.5",
	".5", "5.", "1.2.3", "1,5", "1e5", "+1", "1-", " 1", "1 ", "", "-", "123456789012345678", "1234567890123456789", "1.123456789012345678",
	"1.1234567890123456789", "99999999999999999.99", "0.000", "10.00", "1٫5", "１"}

// TestPlainMoney: money()'s direct formatting of a plain amount agrees
// with the decimal path for every currency precision.
func TestPlainMoney(t *testing.T) {
	for _, s := range moneyEdges {
		checkPlainMoney(t, s)
	}
}

func checkPlainMoney(t *testing.T, s string) {
	t.Helper()
	for _, minor := range []int32{0, 2, 3} {
		got, ok := PlainMoney(s, minor)
		if !ok {
			continue
		}
		d, dok, err := ParseDecimal(s, "")
		if err != nil || !dok {
			t.Fatalf("PlainMoney(%q, %d) = %q, the decimal path fails: %v", s, minor, got, err)
		}
		if want := MoneyAmount(d, minor); got != want {
			t.Fatalf("PlainMoney(%q, %d) = %q, the decimal path %q", s, minor, got, want)
		}
		if d2, _, _ := ParseDecimal(s, "en"); MoneyAmount(d2, minor) != got {
			t.Fatalf("PlainMoney(%q, %d) = %q, in locale en %q", s, minor, got, MoneyAmount(d2, minor))
		}
	}
}

// FuzzPlainMoney: any string, plainMoney answers as the decimal path or
// not at all.
func FuzzPlainMoney(f *testing.F) {
	for _, s := range moneyEdges {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkPlainMoney(t, s) })
}
