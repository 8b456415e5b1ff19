package funcs

// allDigits: s is ASCII digits only ("" included).
// AllDigits reports whether s holds only ASCII digits (true for "").
func AllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
