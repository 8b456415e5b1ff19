package funcs

import (
	"net/mail"
	"regexp"
	"strings"
)

// emailRe is what Email accepts; matchEmailAddress decides it by hand.
var emailRe = regexp.MustCompile(`^[^@\s<>(),;:"\[\]]+@[^@\s<>(),;:"\[\]]+\.[a-z]{2,}$`)

// Email is s as an e-mail address (trimmed, "mailto:" and a display name
// removed, lower-cased) when it is one emailRe accepts, "" otherwise.
func Email(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "mailto:"), "MAILTO:")
	if strings.ContainsAny(s, "<\"") {
		if a, err := mail.ParseAddress(s); err == nil {
			s = a.Address
		}
	}
	s = strings.ToLower(strings.Trim(s, " .;,"))
	if !matchEmailAddress(s) || strings.Contains(s, "..") { // emailRe, by hand (TestEmailAddressMatcher)
		return ""
	}
	return s
}

// matchEmailAddress is emailRe (what email() accepts after normalising):
// ^[^@\s<>(),;:"\[\]]+@[^@\s<>(),;:"\[\]]+\.[a-z]{2,}$. The last part
// has no dot, so it is what follows the domain's last dot.
func matchEmailAddress(s string) bool {
	at, lastDot := -1, -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\f', '\r', '<', '>', '(', ')', ',', ';', ':', '"', '[', ']':
			return false
		case '@':
			if at >= 0 {
				return false
			}
			at = i
		case '.':
			lastDot = i
		}
	}
	if at <= 0 || lastDot < at+2 || len(s)-lastDot-1 < 2 {
		return false
	}
	for i := lastDot + 1; i < len(s); i++ {
		if c := s[i]; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
