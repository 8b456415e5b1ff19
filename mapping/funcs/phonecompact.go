package funcs

// compactPhone strips the formatting from a phone number written with
// digits, spaces and the separators - . / ( ) only (a '+' allowed as the
// first character that is not a space): "030 204-7514" becomes
// "0302047514". libphonenumber drops these characters itself, but runs its
// extension and viability regular expressions over the whole text first,
// which made a formatted number cost twice what its digits do; with none
// of '#', ',', ';', '~', 'x' or letters in the text no extension can be
// found, so the result is the same (TestCompactPhoneEquivalence and
// FuzzCompactPhone hold parsePhone to it). It also lets one number written
// two ways share a phone cache entry. ok is false when s has anything else,
// fewer than three digits, or is longer than libphonenumber accepts: then
// the text goes to the parser as it is.
func compactPhone(s string) (string, bool) {
	if len(s) > 250 { // phonenumbers.MAX_INPUT_STRING_LENGTH: an error there
		return "", false
	}
	var buf [64]byte
	out := buf[:0]
	digits, clean := 0, true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			out = append(out, c)
			digits++
		case c == '+':
			if len(out) > 0 || !leadingSpaces(s[:i]) {
				return "", false
			}
			out = append(out, c)
		case c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')':
			clean = false
		default:
			return "", false
		}
	}
	if digits < 3 {
		return "", false
	}
	if clean {
		return s, true
	}
	return string(out), true
}

func leadingSpaces(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' {
			return false
		}
	}
	return true
}
