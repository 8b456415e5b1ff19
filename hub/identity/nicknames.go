package identity

import (
	_ "embed"
	"slices"
	"strings"
)

//go:embed nicknames.txt
var nicknameText string

// nicknames maps a folded given name to the formal names it is a form of,
// a formal name to itself included; formsOf a formal name to its forms.
var nicknames, formsOf = parseNicknames(nicknameText)

// genderPairs holds the masculine and feminine forms of one name
// ("masculine > feminine ..." lines of nicknames.txt), both ways round.
var genderPairs = parseGenderPairs(nicknameText)

func parseGenderPairs(text string) map[[2]string]bool {
	out := map[[2]string]bool{}
	for _, line := range strings.Split(text, "\n") {
		m, fs, ok := strings.Cut(line, ">")
		if !ok || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		m = foldName(m)
		for _, f := range strings.Fields(fs) {
			f = foldName(f)
			out[[2]string{m, f}], out[[2]string{f, m}] = true, true
		}
	}
	return out
}

// genderedForms reports whether two folded given names are the masculine
// and the feminine form of one name (Daniel and Daniela, Paul and Paula,
// Jan and Jana).
func genderedForms(x, y string) bool { return genderPairs[[2]string{x, y}] }

func parseNicknames(text string) (map[string][]string, map[string][]string) {
	out, forms := map[string][]string{}, map[string][]string{}
	add := func(form, formal string) {
		for _, f := range out[form] {
			if f == formal {
				return
			}
		}
		out[form] = append(out[form], formal)
	}
	for _, line := range strings.Split(text, "\n") {
		if m, fs, ok := strings.Cut(line, ">"); ok && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			// A masculine name and its feminine forms: each a given
			// name of its own.
			for _, n := range append([]string{m}, strings.Fields(fs)...) {
				add(foldName(n), foldName(n))
			}
			continue
		}
		formal, rest, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		formal = foldName(formal)
		add(formal, formal)
		for _, f := range strings.Fields(rest) {
			add(foldName(f), formal)
			forms[formal] = append(forms[formal], foldName(f))
		}
	}
	return out, forms
}

// nicknameOf reports whether two folded given names are forms of one
// name: one a form of the other (Bob, Robert) or both forms of one formal
// name (Bob, Rob). Two formal names that only share a form (Christopher
// and Christine, both Chris) are not.
func nicknameOf(x, y string) bool {
	// A formal name is listed among its own formal names, so a form and
	// its formal name share one too.
	for _, a := range nicknames[x] {
		for _, b := range nicknames[y] {
			if a == b {
				return true
			}
		}
	}
	return mistypedForm(x, y) || mistypedForm(y, x)
}

// shortFormOf reports whether x is a short form of the formal name y that
// is no given name of its own (Bob of Robert, Peggy of Margaret, Hans of
// Johann), or such a form one typo off (Bbo). Two forms of one name (Bob
// and Rob) and a name listed as a form that is a given name in its own
// right (Jack and Jean, both John's) are not: nicknameOf keeps them out of
// the relatives hold, but a household gives a Jack and a Jean.
func shortFormOf(x, y string) bool {
	if !slices.Contains(nicknames[y], y) || slices.Contains(nicknames[x], x) || unisexForms[x] {
		return false
	}
	if slices.Contains(nicknames[x], y) {
		return true
	}
	if len(x) < 3 || nicknames[x] != nil {
		return false
	}
	for _, f := range formsOf[y] {
		if len(f) >= 3 && !slices.Contains(nicknames[f], f) && !unisexForms[f] && oneEditApart(x, f, func(byte) bool { return true }) {
			return true
		}
	}
	return false
}

// unisexForms are the short forms nicknames.txt gives for both a man's and a
// woman's name (Alex of Alexander and Alexandra, Chris of Christopher and
// Christine, Pat of Patrick and Patricia): a brother Alexander and a
// sister Sandy share a house and a family name, so such a form is no
// evidence for one person (shortFormOf). As before matcher revision 8,
// they keep their spelling's level and stay out of the relatives hold.
var unisexForms = map[string]bool{"alex": true, "sandy": true, "sasha": true, "charlie": true, "chris": true,
	"conny": true, "fran": true, "franzi": true, "jo": true, "pat": true}

// mistypedForm reports whether x is one typo (a letter changed, dropped,
// added, or two swapped) away from y or one of the forms of y's formal
// names: Bbo for Bob (Robert), Chirs for Christopher.
func mistypedForm(x, y string) bool {
	if len(x) < 3 || nicknames[x] != nil {
		return false
	}
	any := func(byte) bool { return true }
	for _, f := range nicknames[y] {
		if oneEditApart(x, f, any) {
			return true
		}
		for _, form := range formsOf[f] {
			if len(form) >= 3 && oneEditApart(x, form, any) {
				return true
			}
		}
	}
	return false
}

// oneGivenName reports whether two folded given names that do not agree
// under the comparison levels may still name one person: a nickname or
// short form (Bob and Robert, Hans and Johann), initials (J. and John,
// J. R. and John Robert), or one of several given names (Maria and Anna
// Maria). Relatives are told apart by nothing else: a household's twins
// share family name, birth date and address.
func oneGivenName(x, y string) bool {
	if x == y || nicknameOf(x, y) {
		return true
	}
	wx, wy := strings.Fields(x), strings.Fields(y)
	if len(wx) > len(wy) || initials(wy) {
		wx, wy = wy, wx
	}
	if len(wx) == 0 {
		return false
	}
	if initials(wx) {
		// J. R. for John Robert; J. for John Robert.
		for i, w := range wx {
			if i >= len(wy) || wy[i][0] != w[0] {
				return false
			}
		}
		return true
	}
	// Every name of the shorter list is one of the longer's, or a form
	// of one: Maria for Anna Maria, Hans for Johann Georg.
	for _, w := range wx {
		found := false
		for _, v := range wy {
			if w == v || nicknameOf(w, v) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return len(wx) < len(wy)
}

// initials reports whether every word is a single letter.
func initials(words []string) bool {
	for _, w := range words {
		if len(w) != 1 {
			return false
		}
	}
	return true
}

// knownGivenName reports whether a folded name is in the list of given
// names and their forms.
func knownGivenName(x string) bool { return len(nicknames[x]) > 0 }

// otherName reports whether a name comparison's level leaves the names
// possibly different: anything short of the same name or a typo of it.
func otherName(level string) bool {
	return level == LevelPhonetic || level == LevelPrefix || level == LevelSimilar || level == LevelElse
}
