package validate

// Hand-written matchers for the fixed `pattern`s of the shipped schemas.
// The compiled validator checks every string of every record against its
// pattern; these patterns are simple enough that a loop over the bytes
// decides them several times faster than regexp's machine. Each is keyed
// by the pattern's exact source, so a schema that changes a pattern falls
// back to the regexp; TestPatternMatchers and FuzzPatternMatchers hold
// each matcher to regexp.MatchString (RE2: `$` is the end of the text,
// `\s` is [\t\n\f\r ]). Non-ASCII runes are never in the classes below
// except in [^@\s], whose bytes they never equal either, so bytes stand
// for runes.
var fixedPatterns = map[string]func(string) bool{
	`^\+[1-9][0-9]{6,14}$`:          matchE164,
	`^[A-Z]{2}$`:                    func(s string) bool { return len(s) == 2 && allIn(s, isUpper) },
	`^[A-Z]{3}$`:                    func(s string) bool { return len(s) == 3 && allIn(s, isUpper) },
	`^[a-z]{2,3}(-[A-Z]{2})?$`:      matchLanguage,
	`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`:  matchDate,
	`^-?[0-9]+(\.[0-9]+)?$`:         matchDecimal,
	`^[^@\s]+@[^@\s]+\.[^@\s]+$`:    matchEmail,
	`^[0-9a-f]{32}$`:                func(s string) bool { return len(s) == 32 && allIn(s, isLowerHex) },
	`^[a-z][a-z0-9_]{1,31}$`:        matchScheme,
	`^[A-Z0-9][A-Z0-9.\-/ ]{2,30}$`: matchTaxID,
	`^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$`: matchPartialDate,
}

func isDigit(c byte) bool    { return '0' <= c && c <= '9' }
func isUpper(c byte) bool    { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool    { return 'a' <= c && c <= 'z' }
func isLowerHex(c byte) bool { return isDigit(c) || ('a' <= c && c <= 'f') }

func allIn(s string, class func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !class(s[i]) {
			return false
		}
	}
	return true
}

// matchE164: ^\+[1-9][0-9]{6,14}$
func matchE164(s string) bool {
	return len(s) >= 8 && len(s) <= 16 && s[0] == '+' && s[1] != '0' && allIn(s[1:], isDigit)
}

// matchLanguage: ^[a-z]{2,3}(-[A-Z]{2})?$
func matchLanguage(s string) bool {
	if len(s) > 3 && s[len(s)-3] == '-' {
		if !isUpper(s[len(s)-2]) || !isUpper(s[len(s)-1]) {
			return false
		}
		s = s[:len(s)-3]
	}
	return (len(s) == 2 || len(s) == 3) && allIn(s, isLower)
}

// matchDate: ^[0-9]{4}-[0-9]{2}-[0-9]{2}$
func matchDate(s string) bool {
	return len(s) == 10 && s[4] == '-' && s[7] == '-' && allIn(s[:4], isDigit) && allIn(s[5:7], isDigit) && allIn(s[8:], isDigit)
}

// matchPartialDate: ^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$
func matchPartialDate(s string) bool {
	if len(s) != 4 && len(s) != 7 && len(s) != 10 {
		return false
	}
	if !allIn(s[:4], isDigit) {
		return false
	}
	if len(s) >= 7 {
		if s[4] != '-' || !isDigit(s[5]) || !isDigit(s[6]) {
			return false
		}
		if m := (s[5]-'0')*10 + s[6] - '0'; m < 1 || m > 12 {
			return false
		}
	}
	if len(s) == 10 {
		if s[7] != '-' || !isDigit(s[8]) || !isDigit(s[9]) {
			return false
		}
		if d := (s[8]-'0')*10 + s[9] - '0'; d < 1 || d > 31 {
			return false
		}
	}
	return true
}

// matchDecimal: ^-?[0-9]+(\.[0-9]+)?$
func matchDecimal(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	if i == len(s) {
		return true
	}
	return s[i] == '.' && i+1 < len(s) && allIn(s[i+1:], isDigit)
}

// matchEmail: ^[^@\s]+@[^@\s]+\.[^@\s]+$: one @, no white space, a
// non-empty local part, and a dot in the domain with something on both
// sides of it.
func matchEmail(s string) bool {
	at, dot := -1, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\f', '\r':
			return false
		case '@':
			if at >= 0 {
				return false
			}
			at = i
		case '.':
			// A dot with a domain character before it (not the @) and,
			// checked below, one after it.
			if at >= 0 && i > at+1 && i < len(s)-1 {
				dot = true
			}
		}
	}
	return at > 0 && dot
}

// matchScheme: ^[a-z][a-z0-9_]{1,31}$
func matchScheme(s string) bool {
	if len(s) < 2 || len(s) > 32 || !isLower(s[0]) {
		return false
	}
	return allIn(s[1:], func(c byte) bool { return isLower(c) || isDigit(c) || c == '_' })
}

// matchTaxID: ^[A-Z0-9][A-Z0-9.\-/ ]{2,30}$
func matchTaxID(s string) bool {
	if len(s) < 3 || len(s) > 31 || !(isUpper(s[0]) || isDigit(s[0])) {
		return false
	}
	return allIn(s[1:], func(c byte) bool { return isUpper(c) || isDigit(c) || c == '.' || c == '-' || c == '/' || c == ' ' })
}
