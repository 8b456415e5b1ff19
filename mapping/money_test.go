package mapping

import "testing"

// TestCurrencyCheckByHand: money() checks a currency code by hand as
// ^[A-Z]{3}$ (the fixed pattern's matcher); currencyRe must still say the
// same.
func TestCurrencyCheckByHand(t *testing.T) {
	if currencyRe.String() != `^[A-Z]{3}$` {
		t.Fatalf("currencyRe is %s: update money()'s check", currencyRe)
	}
	for _, s := range []string{"EUR", "eur", "EU", "EURO", "E1R", "ÄUR", "", "EUR\n"} {
		if got, want := isCurrencyCode(s), currencyRe.MatchString(s); got != want {
			t.Errorf("%q: %v, currencyRe %v", s, got, want)
		}
	}
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
		got, ok := plainMoney(s, minor)
		if !ok {
			continue
		}
		d, dok, err := parseDecimal(s, "")
		if err != nil || !dok {
			t.Fatalf("plainMoney(%q, %d) = %q, the decimal path fails: %v", s, minor, got, err)
		}
		if want := moneyAmount(d, minor); got != want {
			t.Fatalf("plainMoney(%q, %d) = %q, the decimal path %q", s, minor, got, want)
		}
		if d2, _, _ := parseDecimal(s, "en"); moneyAmount(d2, minor) != got {
			t.Fatalf("plainMoney(%q, %d) = %q, in locale en %q", s, minor, got, moneyAmount(d2, minor))
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
