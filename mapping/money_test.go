package mapping

import (
	"testing"

	"github.com/crmhub/crmhub/mapping/funcs"
)

// TestCurrencyCheckByHand: money() checks a currency code by hand as
// ^[A-Z]{3}$ (the fixed pattern's matcher); currencyRe must still say the
// same.
func TestCurrencyCheckByHand(t *testing.T) {
	if currencyRe.String() != `^[A-Z]{3}$` {
		t.Fatalf("currencyRe is %s: update money()'s check", currencyRe)
	}
	for _, s := range []string{"EUR", "eur", "EU", "EURO", "E1R", "ÄUR", "", "EUR\n"} {
		if got, want := funcs.IsCurrencyCode(s), currencyRe.MatchString(s); got != want {
			t.Errorf("%q: %v, currencyRe %v", s, got, want)
		}
	}
}
