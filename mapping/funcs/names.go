package funcs

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// Collapse trims s and turns every inner run of white space into one
// space.
func Collapse(s string) string {
	if collapsed(s) {
		return s // already clean: spare Fields and Join
	}
	return strings.Join(strings.Fields(s), " ")
}

// collapsed tells whether Collapse(s) == s: no white space at either end,
// and every inner run of white space is a single ' '.
func collapsed(s string) bool {
	prevSpace := true // a space at the start is not clean
	for _, r := range s {
		if r == ' ' || (r >= utf8.RuneSelf || r < 0x20) && unicode.IsSpace(r) {
			if r != ' ' || prevSpace {
				return false
			}
			prevSpace = true
			continue
		}
		prevSpace = false
	}
	return !prevSpace || s == ""
}

var nameTitles = map[string]bool{"herr": true, "frau": true, "hr": true, "fr": true, "dr": true, "prof": true, "mr": true, "mrs": true, "ms": true,
	"miss": true, "mx": true, "sir": true, "dame": true, "dipl.-ing": true, "ing": true, "mag": true, "med": true, "rer": true, "nat": true, "phil": true, "h.c": true}

var nameSuffixes = map[string]bool{"jr": true, "sr": true, "ii": true, "iii": true, "iv": true, "phd": true, "md": true}

var nameParticles = map[string]bool{"von": true, "van": true, "de": true, "der": true, "den": true, "del": true, "della": true, "da": true, "di": true,
	"du": true, "zu": true, "zum": true, "zur": true, "la": true, "le": true, "ten": true, "ter": true, "vom": true, "dos": true, "das": true, "af": true, "bin": true, "al": true}

func titleKey(w string) string { return strings.ToLower(strings.TrimRight(w, ".")) }

// SplitName splits a full name ("Dr. Hans von Müller", "Müller, Hans")
// into given and family names, without titles and suffixes; a particle
// (von, van, de, ...) before the last word belongs to the family name.
func SplitName(s string) (given, family string) {
	s = Collapse(s)
	if s == "" {
		return "", ""
	}
	strip := func(ws []string) []string {
		for len(ws) > 0 && nameTitles[titleKey(ws[0])] {
			ws = ws[1:]
		}
		for len(ws) > 0 && nameSuffixes[titleKey(ws[len(ws)-1])] {
			ws = ws[:len(ws)-1]
		}
		return ws
	}
	if i := strings.IndexByte(s, ','); i >= 0 {
		fam := strip(strings.Fields(s[:i]))
		giv := strip(strings.Fields(s[i+1:]))
		return strings.Join(giv, " "), strings.Join(fam, " ")
	}
	ws := strip(strings.Fields(s))
	if len(ws) == 0 {
		return "", ""
	}
	if len(ws) == 1 {
		return "", ws[0]
	}
	i := len(ws) - 1
	for i > 1 && nameParticles[strings.ToLower(ws[i-1])] {
		i--
	}
	return strings.Join(ws[:i], " "), strings.Join(ws[i:], " ")
}

// titlers reuse title Casers: building one per call (cases.Title) was
// most of title()'s cost, and a Caser keeps state, so it is not shared
// between goroutines at once.
var titlers = sync.Pool{New: func() any { c := cases.Title(language.Und); return &c }}

// TitleCase is cases.Title(language.Und).String(s). Text of ASCII letters
// and spaces only (most names and cities) is cased here directly, a word
// being a run of letters: TestTitleCaseEquivalence and FuzzTitleCase hold
// it to x/text.
func TitleCase(s string) string {
	if out, ok := titleASCII(s); ok {
		return out
	}
	c := titlers.Get().(*cases.Caser)
	out := c.String(s)
	titlers.Put(c)
	return out
}

func titleASCII(s string) (string, bool) {
	changed := false
	start := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			start = true
			continue
		case c >= 'a' && c <= 'z':
			changed = changed || start
		case c >= 'A' && c <= 'Z':
			changed = changed || !start
		default:
			return "", false
		}
		start = false
	}
	if !changed {
		return s, true
	}
	b := make([]byte, len(s))
	start = true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			start = true
		case start:
			if c >= 'a' {
				c -= 'a' - 'A'
			}
			start = false
		case c <= 'Z':
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return string(b), true
}
