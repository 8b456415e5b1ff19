package funcs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
)

// ParseDecimal reads a number written in locale (en, de, fr, ch or a
// language tag mapped to one; "": guessed by DetectLocale) without going
// through a float. ok is false for empty text.
func ParseDecimal(s, locale string) (decimal.Decimal, bool, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return decimal.Decimal{}, false, nil
	}
	if locale == "" {
		var err error
		if locale, err = DetectLocale(s); err != nil {
			return decimal.Decimal{}, false, err
		}
	}
	loc, ok := locales[NormLocale(locale)]
	if !ok {
		return decimal.Decimal{}, false, fmt.Errorf("unknown locale %q", locale)
	}
	neg := false
	switch {
	case strings.HasSuffix(s, "-"):
		neg, s = true, strings.TrimSpace(strings.TrimSuffix(s, "-"))
	case strings.HasPrefix(s, "-"):
		neg, s = true, strings.TrimSpace(s[1:])
	case strings.HasPrefix(s, "+"):
		s = strings.TrimSpace(s[1:])
	}
	intPart, frac := s, ""
	if i := strings.LastIndexByte(s, byte(loc.dec)); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
		if frac == "" || !AllDigits(frac) {
			return decimal.Decimal{}, false, fmt.Errorf("not a decimal number in locale %s", NormLocale(locale))
		}
	}
	var digits strings.Builder
	if strings.ContainsAny(intPart, loc.groups) {
		groups := strings.FieldsFunc(intPart, func(r rune) bool { return strings.ContainsRune(loc.groups, r) })
		for i, g := range groups {
			if !AllDigits(g) || (i > 0 && len(g) != 3) || (i == 0 && (len(g) == 0 || len(g) > 3)) {
				return decimal.Decimal{}, false, fmt.Errorf("not a decimal number in locale %s (bad digit grouping)", NormLocale(locale))
			}
			digits.WriteString(g)
		}
	} else {
		if intPart == "" && frac == "" || !AllDigits(intPart) {
			return decimal.Decimal{}, false, fmt.Errorf("not a decimal number in locale %s", NormLocale(locale))
		}
		digits.WriteString(intPart)
	}
	num := digits.String()
	if num == "" {
		num = "0"
	}
	if frac != "" {
		num += "." + frac
	}
	if neg {
		num = "-" + num
	}
	d, err := decimal.NewFromString(num)
	if err != nil {
		return decimal.Decimal{}, false, fmt.Errorf("not a decimal number: %w", err)
	}
	return d, true, nil
}

type numLocale struct {
	dec    rune
	groups string
}

var locales = map[string]numLocale{
	"en": {'.', ","},
	"de": {',', "."},
	"fr": {',', " \u00a0\u202f"},
	"ch": {'.', "'’"},
}

// NormLocale maps a locale or language tag to the number format it
// writes: en, de, fr or ch (or itself, lower-cased, when unknown).
func NormLocale(l string) string {
	l = strings.ToLower(strings.TrimSpace(l))
	switch {
	case l == "":
		return "en"
	case l == "de-ch" || l == "ch" || l == "fr-ch" || l == "it-ch":
		return "ch"
	}
	if i := strings.IndexAny(l, "-_"); i > 0 {
		l = l[:i]
	}
	switch l {
	case "de", "es", "it", "nl", "pt", "da", "tr", "id":
		return "de"
	case "fr", "pl", "cs", "sv", "fi", "no", "nb", "ru", "sk", "hu":
		return "fr"
	case "en", "ja", "zh", "ko", "he", "th":
		return "en"
	}
	return l
}

// DecimalString keeps the scale the source wrote ("12.50" stays "12.50").
func DecimalString(d decimal.Decimal) string {
	if e := d.Exponent(); e < 0 {
		return d.StringFixed(-e)
	}
	return d.String()
}

// MinorUnits is how many decimals an amount in currency cur has at least
// (2 unless the currency has other minor units).
func MinorUnits(cur string) int32 {
	if m, ok := minorUnits[cur]; ok {
		return m
	}
	return 2
}

var minorUnits = map[string]int32{"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "HUF": 2, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}

var currencySymbols = []struct{ sym, code string }{{"€", "EUR"}, {"£", "GBP"}, {"US$", "USD"}, {"$", "USD"}, {"¥", "JPY"}, {"Fr.", "CHF"}, {"zł", "PLN"}, {"Kč", "CZK"}}

var codeInText = regexp.MustCompile(`^([A-Z]{3})\s*(.*)$|^(.*?)\s*([A-Z]{3})$`)

// mayHaveCode is false when codeInText cannot match (it needs three
// capital letters at the start or at the end), which spares the regexp
// for the usual plain amount.
func mayHaveCode(s string) bool {
	upper3 := func(t string) bool {
		return len(t) == 3 && t[0] >= 'A' && t[0] <= 'Z' && t[1] >= 'A' && t[1] <= 'Z' && t[2] >= 'A' && t[2] <= 'Z'
	}
	return len(s) >= 3 && (upper3(s[:3]) || upper3(s[len(s)-3:]))
}

// MoneyAmount is d as money() writes it: the scale the source wrote, at
// least the currency's minor units.
func MoneyAmount(d decimal.Decimal, minor int32) string {
	s := DecimalString(d)
	if -d.Exponent() < minor {
		s = d.StringFixed(minor)
	}
	return s
}

// PlainMoney is MoneyAmount(ParseDecimal(s, "")) for s of the form
// -?(0|[1-9][0-9]*)(\.[0-9]+)? with at most 18 digits on either side and
// not a negative zero; ok is false for anything else (TestPlainMoney,
// FuzzPlainMoney hold it to the decimal path).
func PlainMoney(s string, minor int32) (string, bool) {
	body := s
	neg := len(body) > 0 && body[0] == '-'
	if neg {
		body = body[1:]
	}
	intPart, frac, hasDot := strings.Cut(body, ".")
	if len(intPart) == 0 || len(intPart) > 18 || !AllDigits(intPart) || (len(intPart) > 1 && intPart[0] == '0') {
		return "", false
	}
	if hasDot && (len(frac) == 0 || len(frac) > 18 || !AllDigits(frac)) {
		return "", false
	}
	if neg && strings.Trim(intPart, "0") == "" && strings.Trim(frac, "0") == "" {
		return "", false // -0.00: the decimal path drops the sign
	}
	if int32(len(frac)) >= minor {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s) + 1 + int(minor))
	b.WriteString(s)
	if !hasDot {
		b.WriteByte('.')
	}
	for i := int32(len(frac)); i < minor; i++ {
		b.WriteByte('0')
	}
	return b.String(), true
}

// DetectLocale guesses the number format when the mapping gives none: the
// last of "." and "," is the decimal separator, an apostrophe is Swiss
// grouping. "1,234" could be either, so it is refused rather than guessed.
func DetectLocale(s string) (string, error) {
	dot, comma := strings.LastIndexByte(s, '.'), strings.LastIndexByte(s, ',')
	switch {
	case strings.ContainsAny(s, "'’"):
		return "ch", nil
	case dot >= 0 && comma >= 0 && comma > dot:
		return "de", nil
	case dot >= 0:
		return "en", nil
	case comma >= 0:
		if strings.Count(s, ",") == 1 && len(strings.TrimRight(s[comma+1:], "- ")) == 3 {
			return "", errors.New("ambiguous number: is the comma a decimal or a thousands separator? give a locale")
		}
		if strings.Count(s, ",") > 1 {
			return "en", nil
		}
		return "de", nil
	}
	return "en", nil
}

// IsCurrencyCode is currencyRe (^[A-Z]{3}$) by hand.
func IsCurrencyCode(s string) bool {
	return len(s) == 3 && isUpperASCII(s[0]) && isUpperASCII(s[1]) && isUpperASCII(s[2])
}

func isUpperASCII(c byte) bool { return 'A' <= c && c <= 'Z' }

// KnownLocale: l names a number format ParseDecimal reads.
func KnownLocale(l string) bool {
	_, ok := locales[NormLocale(l)]
	return ok
}

// SplitCurrency takes a currency symbol (€, $, ...) or a leading or
// trailing ISO code out of an amount's text: amount is the rest, code ""
// when there was none.
func SplitCurrency(s string) (amount, code string) {
	for _, cs := range currencySymbols {
		if strings.Contains(s, cs.sym) {
			return strings.TrimSpace(strings.Replace(s, cs.sym, "", 1)), cs.code
		}
	}
	if mayHaveCode(s) {
		if m := codeInText.FindStringSubmatch(s); m != nil {
			if m[1] != "" {
				return m[2], strings.ToUpper(m[1])
			}
			return m[3], strings.ToUpper(m[4])
		}
	}
	return s, ""
}
