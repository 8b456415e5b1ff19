package identity

import (
	"math/rand/v2"
	"testing"

	"github.com/adrg/strutil"
)

// jwAtMost never bounds a Jaro-Winkler similarity below its value: on
// names, their typos and random strings of letters, spaces, accents,
// capitals and invalid UTF-8.
func TestJWAtMost(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "b", "e", "n", "r", "m", "s", " ", "é", "Ü", "ß", "A", "\xff", "\xc3", "İ"}
	random := func() string {
		s := ""
		for range rng.IntN(12) {
			s += alphabet[rng.IntN(len(alphabet))]
		}
		return s
	}
	var words []string
	for w := range nicknames {
		words = append(words, w)
	}
	for range 200000 {
		var x, y string
		switch rng.IntN(3) {
		case 0:
			x, y = random(), random()
		case 1:
			x, y = words[rng.IntN(len(words))], words[rng.IntN(len(words))]
		default:
			x = words[rng.IntN(len(words))]
			y = x[:rng.IntN(len(x)+1)] + random()
		}
		cx, cy := countRunes(x), countRunes(y)
		if got, b := strutil.Similarity(x, y, jw), jwAtMost(x, y, &cx, &cy); got > b {
			t.Fatalf("%q %q: similarity %v above its bound %v", x, y, got, b)
		}
	}
}
