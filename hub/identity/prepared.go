package identity

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/adrg/strutil"

	"github.com/crmhub/crmhub/hub"
)

// person is a record with what the comparisons read from it computed once.
// A record is compared with dozens to hundreds of others (the estimate's
// random and blocked pairs, a block's members in apply and rescore), and
// folding its names, parsing its streets and its phone numbers for every
// pair was most of the estimate's and the rescore's time. Only the
// customer is kept where the person model does not score the record
// (organizations, the weighted method): see FuzzyConfig.prepare.
type person struct {
	c             hub.Customer
	region        string
	taxIsEvidence bool
	given, family name
	birth         birthDate
	addrs         []place
	emails        []string    // normalized, the empty ones left out
	mailboxes     [][2]string // local part and domain of the e-mails with an @
	phones        []string    // E.164, the unreadable ones left out
	gender        string      // lower-case, trimmed
	ids           []idSet
}

// preparePerson prepares c's comparisons of the person model; region reads
// its phone numbers, taxIsEvidence says whether its tax id is an
// identifier.
func preparePerson(c hub.Customer, region string, taxIsEvidence bool) *person {
	p := &person{c: c, region: region, taxIsEvidence: taxIsEvidence,
		given: newName(givenName(c)), family: newName(familyName(c)),
		birth: newBirthDate(strings.TrimSpace(c.BirthDate)), gender: strings.ToLower(strings.TrimSpace(c.Gender)),
		emails: normEmails(c.Emails), phones: normPhones(c.Phones, region), ids: idSets(personIDs(c, taxIsEvidence))}
	p.mailboxes = mailboxes(p.emails)
	if addrs := matchAddresses(c); len(addrs) > 0 {
		p.addrs = make([]place, len(addrs))
		for i, a := range addrs {
			p.addrs[i] = newPlace(a)
		}
	}
	return p
}

// prepare is preparePerson where the person model scores c's kind, and c
// alone elsewhere.
func (f *FuzzyConfig) prepare(c hub.Customer, region string, taxIsEvidence bool) *person {
	if f == nil || !f.probabilistic(c.Kind) {
		return &person{c: c, region: region, taxIsEvidence: taxIsEvidence}
	}
	return preparePerson(c, region, taxIsEvidence)
}

// prepare prepares a record as the resolver scores it.
func (r *Resolver) prepare(rec Record) *person {
	return r.cfg.Fuzzy.prepare(rec.Customer, r.cfg.DefaultRegion, r.taxIsEvidence(rec.Customer.Kind))
}

// preparedSet returns recs[i] prepared, each record on first use and once:
// a record in several blocks, or with many block members, is compared
// with many others, and most records in a batch are compared with none.
func (r *Resolver) preparedSet(recs []Record) func(i int) *person {
	prepared := make([]*person, len(recs))
	return func(i int) *person {
		if prepared[i] == nil {
			prepared[i] = r.prepare(recs[i])
		}
		return prepared[i]
	}
}

// name is a folded name with the forms nameLevel compares besides it.
type name struct {
	s      string // folded (foldName)
	sorted string // its words in order (sortWords)
	joined string // without spaces
	refold string // folded once more, as the gendered forms are looked up
	// counts are s's runeCounts (sorted's too: the same runes),
	// joinedCounts joined's.
	counts, joinedCounts runeCounts
	ocr, joinedOCR       string // s and joined with ocrFold
	digits               bool   // s has a digit (see readLookAlikes)
	// sounds are joined's phonetic codes once phonetic has computed them:
	// only names already alike in spelling need them, and computing them
	// for every record cost apply and rescore, which compare a record
	// with a few others, more than it saved. A person is prepared and
	// compared within one call, never shared between goroutines.
	sounds      sounds
	soundsKnown bool
}

// phonetic returns the name's phonetic codes, computed on first use.
func (n *name) phonetic() *sounds {
	if !n.soundsKnown {
		n.sounds, n.soundsKnown = soundsOf(n.joined), true
	}
	return &n.sounds
}

func newName(folded string) name {
	n := name{s: folded, sorted: sortWords(folded), joined: strings.ReplaceAll(folded, " ", ""), refold: foldName(folded)}
	n.counts, n.joinedCounts = countRunes(n.s), countRunes(n.joined)
	n.ocr, n.joinedOCR = ocrFold.Replace(n.s), n.ocr
	n.digits = strings.ContainsAny(n.s, digitChars)
	if n.joined != n.s {
		n.joinedOCR = ocrFold.Replace(n.joined)
	}
	return n
}

// place is an address with its parts as addressPair compares them.
type place struct {
	postcode  string // NormalizePostcode
	city      string // foldName
	cityRunes runeCounts
	noStreet  bool   // neither street line has text
	lines     string // streetLines
	multi     bool   // lines has more than one line
	parsed    StreetLine
	// names are the street names of every line (streetNames), buildings
	// the building or property names of the lines without a house number
	// (buildingName).
	names, buildings []string
}

// cityOnly reports whether the address gives neither a street nor a
// postal code: its city is all it can agree on.
func (p *place) cityOnly() bool { return p.noStreet && p.postcode == "" }

func newPlace(a hub.Address) place {
	p := place{postcode: NormalizePostcode(a.PostalCode), city: foldName(a.City),
		noStreet: strings.TrimSpace(a.Street+a.Street2) == "", lines: streetLines(a)}
	p.cityRunes = countRunes(p.city)
	p.multi = strings.Contains(p.lines, "\n")
	p.parsed = ParseStreetLine(p.lines)
	if !p.multi {
		// One line, parsed once: what streetNames and buildingName
		// would parse again.
		if x := p.parsed; x.Street != "" {
			p.names = []string{x.Street}
			if x.Number == "" && x.Unit == "" {
				p.buildings = p.names
			}
		}
		return p
	}
	p.names = streetNames(p.lines)
	for _, l := range strings.Split(p.lines, "\n") {
		if b := buildingName(l); b != "" {
			p.buildings = append(p.buildings, b)
		}
	}
	return p
}

// normEmails are the normalized e-mail addresses, the empty ones left out.
func normEmails(emails []string) []string {
	var out []string
	for _, e := range emails {
		if n := NormalizeEmail(e); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// mailboxes are the local part and domain of each normalized e-mail
// address (normEmails) with an @.
func mailboxes(normalized []string) [][2]string {
	var out [][2]string
	for _, e := range normalized {
		if l, d, ok := strings.Cut(e, "@"); ok {
			out = append(out, [2]string{l, d})
		}
	}
	return out
}

// normPhones are the phone numbers in E.164, those that do not read as
// one left out.
func normPhones(phones []string, region string) []string {
	var out []string
	for _, x := range phones {
		if n, err := NormalizePhone(x, region); err == nil && n != "" {
			out = append(out, n)
		}
	}
	return out
}

// runeCounts are a string's runes as Jaro-Winkler compares them (lower
// case), counted: a-z, the space, and every other rune together. Two
// strings match no more runes than they have in common, which bounds
// their similarity from above (jwAtMost) without comparing them.
type runeCounts struct {
	n int // runes
	c [28]int32
	// plain says the string is valid UTF-8 and lower case, as Jaro-Winkler
	// reads it: its common prefix with another is then its bytes'.
	plain bool
}

func countRunes(s string) runeCounts {
	low := strings.ToLower(s)
	rc := runeCounts{plain: low == s && utf8.ValidString(s)}
	for _, r := range low {
		rc.n++
		switch {
		case r >= 'a' && r <= 'z':
			rc.c[r-'a']++
		case r == ' ':
			rc.c[26]++
		default:
			rc.c[27]++
		}
	}
	return rc
}

// jwAtMost bounds strutil.Similarity(x, y, jw) from above, cx and cy
// being x's and y's runeCounts. Jaro is the mean of m/|x|, m/|y| and the
// share of the m matched runes in order, m the matched runes, at most the
// runes x and y have in common; Winkler adds a tenth of the rest per
// rune of the common prefix, up to four.
func jwAtMost(x, y string, cx, cy *runeCounts) float64 {
	if cx.n == 0 || cy.n == 0 {
		return 1
	}
	var common int32
	for i := range cx.c {
		common += min(cx.c[i], cy.c[i])
	}
	j := 0.0
	if common > 0 {
		j = (float64(common)/float64(cx.n) + float64(common)/float64(cy.n) + 1) / 3
	}
	prefix := 4
	if cx.plain && cy.plain {
		k := 0
		for k < len(x) && k < len(y) && x[k] == y[k] {
			k++
		}
		// A prefix ending inside a rune counts that rune's bytes as
		// runes: more, never fewer.
		prefix = min(utf8.RuneCountInString(x[:k]), 4)
	}
	// The margin covers the rounding of the library's own arithmetic.
	return j + 0.1*float64(prefix)*(1-j) + 1e-9
}

// jwFrom is strutil.Similarity(x, y, jw) where it may reach floor, and a
// value below floor where it cannot (jwAtMost): most names and cities
// compared are strangers', far apart, and Jaro-Winkler was the largest
// cost of comparing them.
func jwFrom(x, y string, cx, cy *runeCounts, floor float64) float64 {
	if b := jwAtMost(x, y, cx, cy); b < floor {
		return b
	}
	// The library's arithmetic lands a hair off the fraction a similarity
	// stands for: "ara" and "ava" (one letter of three changed, 4/5) came
	// out 0.79999999999999993 and missed the similar level's 0.80, so a
	// three-letter given name with one letter changed was another name
	// (until matcher revision 8). Rounded to 12 places, a pair exactly on
	// a level's threshold reaches it.
	return math.Round(strutil.Similarity(x, y, jw)*1e12) / 1e12
}
