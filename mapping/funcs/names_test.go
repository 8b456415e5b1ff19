package funcs

import (
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

func checkTitleCase(t *testing.T, s string) {
	t.Helper()
	if got, want := TitleCase(s), cases.Title(language.Und).String(s); got != want {
		t.Errorf("TitleCase(%q) = %q, x/text %q", s, got, want)
	}
}

// TestTitleCaseEquivalence: the ASCII shortcut and the pooled Casers give
// what a fresh cases.Title gives, on names and on random text.
func TestTitleCaseEquivalence(t *testing.T) {
	for _, s := range []string{"", " ", "hans", "HANS", "Hans", "hANS müller", "frankfurt am main", "  two  spaces ",
		"o'neil", "anne-marie", "st. gallen", "mcdonald", "DÜSSELDORF", "straße", "ijssel", "a", "A B", "x1y", "élodie"} {
		checkTitleCase(t, s)
	}
	if _, ok := titleASCII("frankfurt am main"); !ok {
		t.Error("a name of ASCII letters did not take the shortcut")
	}
	rng := rand.New(rand.NewPCG(5, 8))
	alphabet := []rune("abcdezABCDEZ      '-.1äÄßéΣσ\u0130")
	for range 20000 {
		r := make([]rune, rng.IntN(14))
		for i := range r {
			if rng.IntN(4) == 0 {
				r[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				r[i] = alphabet[rng.IntN(18)] // mostly ASCII letters and spaces
			}
		}
		checkTitleCase(t, string(r))
	}
}

func FuzzTitleCase(f *testing.F) {
	for _, s := range []string{"hans müller", "FRANKFURT AM MAIN", "o'neil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkTitleCase(t, s) })
}

// BenchmarkTitle: title() on names and cities, against a Caser built per
// call as before.
func BenchmarkTitle(b *testing.B) {
	words := []string{"hans", "MÜLLER", "frankfurt am main", "düsseldorf", "anna", "schneider"}
	b.Run("titleCase", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			TitleCase(words[i%len(words)])
			i++
		}
	})
	b.Run("cases.Title", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			cases.Title(language.Und).String(words[i%len(words)])
			i++
		}
	})
}

var collapseStrings = []string{"", " ", "a", "a b", "a  b", " a", "a ", "a\tb", "a\u00a0b", "a\u0085b", "Müller GmbH", "x\ny", "a \xff b", "\xff", "€ 5"}

func checkCollapsed(t *testing.T, s string) {
	t.Helper()
	if got, want := collapsed(s), strings.Join(strings.Fields(s), " ") == s; got != want {
		t.Errorf("collapsed(%q) = %v, want %v", s, got, want)
	}
}

// TestCollapsedIsExact: Collapse's shortcut agrees with what it spares.
func TestCollapsedIsExact(t *testing.T) {
	for _, s := range collapseStrings {
		checkCollapsed(t, s)
	}
}

func FuzzCollapsed(f *testing.F) {
	for _, s := range collapseStrings {
		f.Add(s)
	}
	f.Fuzz(checkCollapsed)
}
