package identity

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalidPhone is returned for a string that is not a possible phone number.
var ErrInvalidPhone = errors.New("invalid phone number")

// NormalizeEmail trims and lower-cases an e-mail address. It does not apply
// provider-specific rules (dots or +tags in Gmail), which would merge people
// who are not the same.
func NormalizeEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// NormalizePhone returns the E.164 form of a phone number written in any
// format; region (ISO 3166-1 alpha-2) applies to numbers without a country
// code, such as "030/1234567".
func NormalizePhone(s, region string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if isE164(s) {
		// The mappings already write E.164; parsing it again is the
		// costliest step of matching.
		return s, nil
	}
	n, err := phonenumbers.Parse(s, strings.ToUpper(region))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidPhone, err)
	}
	if !phonenumbers.IsPossibleNumber(n) {
		return "", fmt.Errorf("%w: not a possible number", ErrInvalidPhone)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// NormalizeTaxID upper-cases a tax or VAT id and strips spaces, dots,
// dashes and slashes, so "de 123.456-789" and "DE123456789" are equal.
func NormalizeTaxID(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch r {
		case ' ', '.', '-', '/', '\t':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// NormalizeName lower-cases and collapses white space, for name search.
func NormalizeName(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// isE164 reports whether s is already "+" and 7 to 15 digits, the first not 0.
func isE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
