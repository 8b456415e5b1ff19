package validate

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// patternEdges are strings at the edges of the fixed patterns: lengths one
// off, each class's neighbours, white space, a trailing newline (which
// `$` does not allow in RE2), non-ASCII and invalid UTF-8.
var patternEdges = []string{
	"", " ", "\n", "@", ".", "-", "+", "a", "A", "0",
	"+4930123456", "+49301234", "+4930123", "+493012", "+0301234567", "+123456789012345", "+1234567890123456", "+49 30 1234567", "+4930123456\n", "4930123456", "++4930123456", "+4930１23456",
	"DE", "de", "D", "DEU", "D1", "ÄB", "DE\n", "EUR", "EU", "EURO", "eur", "E1R",
	"de", "deu", "d", "deut", "de-DE", "de-de", "de-D", "de-DEU", "d-DE", "deu-CH", "de_DE", "-DE", "de-", "DE-DE", "de-DE\n",
	"2024-01-31", "2024-1-31", "2024-01-3", "20240131", "2024-01-31 ", "2024/01/31", "2024-13-01", "2024-00-10", "2024-12-00", "2024-12-32", "2024-12-31", "2024-02-30",
	"2024", "202", "20245", "2024-", "2024-1", "2024-01", "2024-09", "2024-10", "2024-12", "2024-13", "2024-00", "2024-01-", "2024-01-01", "2024-01-09", "2024-01-10", "2024-01-19", "2024-01-20", "2024-01-29", "2024-01-30", "2024-01-39", "2024-01-40", "abcd", "2024-0a-01",
	"0", "-0", "-", "1.5", "1.", ".5", "-1.50", "1.5.5", "--1", "1e5", "12345678901234567890.123", " 1", "1 ", "+1", "1,5", "-.5",
	"a@b.de", "a@b.c", "a@b", "a@.de", "a@b.", "@b.de", "a@@b.de", "a@b@c.de", "a b@c.de", "a@b.d e", "a\t@b.de", "a@b..de", "a.b@c.de", "a.b@cde", "a@b.de\n", "ä@ö.de", "a@b.c.d", "a@.b.c", "a@b.\xff", "\xff@b.de", "a@\v.de",
	"0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0", "0123456789ABCDEF0123456789ABCDEF", "0123456789abcdeg0123456789abcdef",
	"ssn", "s", "ss", "s1", "1s", "steuer_id", "Ssn", "s-n", "abcdefghijklmnopqrstuvwxyzabcdef", "abcdefghijklmnopqrstuvwxyzabcdefg",
	"DE123456789", "de123456789", "DE 123 456 789", "D", "DE", "DE1", "1/2", ".DE1", "DE.1-2/3 4", "DE_1", "DE123456789012345678901234567890", "DE12345678901234567890123456789", "DE\t12",
}

// TestPatternMatchers: each hand-written matcher agrees with regexp on the
// edge cases, and every pattern of the shipped schemas has one (a new or
// changed pattern that lacks one still works, on the regexp, but should
// be noticed).
func TestPatternMatchers(t *testing.T) {
	for src, match := range fixedPatterns {
		re := regexp.MustCompile(src)
		for _, s := range patternEdges {
			if got, want := match(s), re.MatchString(s); got != want {
				t.Errorf("%s on %q: %v, regexp %v", src, s, got, want)
			}
		}
	}
	files, _ := filepath.Glob("../../../schemas/*.json")
	if len(files) == 0 {
		t.Fatal("no schemas")
	}
	quoted := regexp.MustCompile(`"pattern":\s*"((?:[^"\\]|\\.)*)"`)
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range quoted.FindAllStringSubmatch(string(b), -1) {
			n++
			src := strings.ReplaceAll(m[1], `\\`, `\`)
			if fixedPatterns[src] == nil {
				t.Errorf("%s: pattern %s has no hand-written matcher", filepath.Base(f), src)
			}
		}
	}
	if n == 0 {
		t.Fatal("no patterns found in the schemas")
	}
}

// TestPatternMatcherUsed: the compiled validator takes the hand-written
// matcher, not the regexp, for a fixed pattern.
func TestPatternMatcherUsed(t *testing.T) {
	v := For("customer", "v1")
	if v == nil {
		t.Fatal("customer.v1 did not compile")
	}
	for v.ref != nil {
		v = v.ref
	}
	lang := v.props["language"]
	for lang != nil && lang.ref != nil {
		lang = lang.ref
	}
	if lang == nil || lang.match == nil {
		t.Fatal("language has no matcher")
	}
	if !lang.match("de-DE") || lang.match("de-de") {
		t.Error("language matcher disagrees with its pattern")
	}
	if lang.Check("deu") != Valid || lang.Check("DEU") != Invalid {
		t.Error("language check disagrees with its pattern")
	}
}

// FuzzPatternMatchers: any string, each matcher answers as regexp does.
func FuzzPatternMatchers(f *testing.F) {
	for _, s := range patternEdges {
		f.Add(s)
	}
	res := map[string]*regexp.Regexp{}
	for src := range fixedPatterns {
		res[src] = regexp.MustCompile(src)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for src, match := range fixedPatterns {
			if got, want := match(s), res[src].MatchString(s); got != want {
				t.Fatalf("%s on %q: %v, regexp %v", src, s, got, want)
			}
		}
	})
}
