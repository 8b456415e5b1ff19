package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/adrg/strutil"
	"github.com/antzucaro/matchr"

	"github.com/crmhub/crmhub/hub"
)

// Fellegi-Sunter scoring of people (see doc.go). Each comparison puts a
// pair of records on one level (exact, a typo apart, ... else); each level
// has m, the probability of that level when the records are the same
// person, and u, when they are two random people. The match weight of a
// level is log2(m/u); the weights of all comparisons plus the prior odds
// give the match probability the thresholds apply to. A comparison where
// either record has no value adds nothing: a missing birth date is no
// evidence either way.

// The comparisons, in the order their weights are summed and explained.
const (
	CompGiven      = "given_name"
	CompFamily     = "family_name"
	CompBirthDate  = "birth_date"
	CompAddress    = "address"
	CompIdentifier = "identifier"
	CompEmail      = "email"
	CompPhone      = "phone"
	CompGender     = "gender"
)

// Comparisons lists the comparisons in their fixed order.
var Comparisons = []string{CompGiven, CompFamily, CompBirthDate, CompAddress, CompIdentifier, CompEmail,
	CompPhone, CompGender}

// The levels. Not every comparison has every level.
const (
	LevelExact = "exact"
	// LevelClose: Jaro-Winkler >= 0.92 for names (a typo, a transposed or
	// OCR-confused letter); one digit changed or two swapped, or day and
	// month swapped, for birth dates; one character changed or two
	// neighbours swapped for postcodes; one
	// edit for identifiers, e-mails and phone numbers.
	LevelClose = "close"
	// LevelPhonetic: names that sound alike (the same Double Metaphone
	// or Kölner Phonetik code: Meier/Meyer, Schmidt/Schmitt).
	LevelPhonetic = "phonetic"
	// LevelPrefix: one name begins the other (Alex/Alexander, Anna/Anna
	// Maria): short forms and dropped second names.
	LevelPrefix = "prefix"
	// LevelNickname: given names that neither look nor sound alike but
	// one is a form of the other (Bob/Robert, Peggy/Margaret, Hans/Johann:
	// nicknames.txt), or a form of it one typo off. Until matcher revision
	// 8 they were "else", as for two other names, and only kept out of the
	// relatives hold.
	LevelNickname = "nickname"
	// LevelMonth: birth dates at most 31 days apart and not one typo
	// apart (a date entered from memory, or another event's day: Splink's
	// DateOfBirthComparison has such a level too), or the same year and
	// month where one date gives no day.
	LevelMonth = "month"
	// LevelSimilar: Jaro-Winkler >= 0.80 for names; at most a year apart
	// for birth dates (the same year where one gives only a year); the same
	// street with no house number on one side.
	LevelSimilar = "similar"
	// LevelOnePart: birth dates of which two parts agree and one is
	// another, further off than the month level: the day and month with
	// another year (1960-07-11 and 1958-07-11), or the year and day with
	// another month (1967-12-26 and 1967-08-26). One part of a date keyed
	// or remembered wrong; two strangers' dates agree so on about one pair
	// in 300.
	LevelOnePart = "one_part"
	// LevelPartial: the same year and month where a date gives no day (or
	// no calendar day: 1980-02-30): they agree as far as both tell. Its
	// own level because its weight is not the month level's: two full
	// dates days apart are rare among one person's records, while a
	// partial date agrees with its copy to the month almost always. Its m
	// is the share of pairs with a partial date times how often one
	// person's full dates agree to the month; the estimate reads that share
	// from the store's random pairs (partialShare), as the partial dates a
	// store holds are its own.
	LevelPartial = "partial"
	// Address levels: the parts of an address are not independent (a
	// street in another postal code is another street), so the address
	// is one comparison. LevelStreet: the same street and house number,
	// the postal code one digit off or missing with the same city, or the
	// same street and postal code with a house number missing;
	// LevelOtherNumber: the same street and postal code, another house
	// number; LevelPostcode: the same postal code, another street;
	// LevelCity: only the city agrees; LevelTown: the city agrees and one
	// record gives no street and no postal code, so the city is all the
	// address can say (a city agreeing where the streets are known and
	// differ says "another home", where one is unknown it says "the same
	// town as far as both tell"); LevelArea: the postal code agrees and
	// one record gives no street, so the code is all the address can say,
	// the postal code's counterpart of LevelTown.
	LevelStreet      = "street"
	LevelOtherNumber = "other_number"
	LevelPostcode    = "postcode"
	LevelArea        = "area"
	LevelCity        = "city"
	LevelTown        = "town"
	LevelElse        = "else"
)

// MU is the pair of probabilities of one comparison level.
type MU struct {
	M float64 `json:"m"`
	U float64 `json:"u"`
}

// Weight is the level's match weight, log2(m/u).
func (p MU) Weight() float64 { return math.Log2(p.M / p.U) }

// Params is a Fellegi-Sunter model: per comparison and level m and u, the
// prior probability that two records are the same person, and optional
// term frequencies of names (their u for an exact match: a shared rare
// name says more than a shared common one).
type Params struct {
	Version int    `json:"version"`
	Source  string `json:"source"` // "default" or how they were estimated
	// Prior is the probability that two records, compared at random, are
	// the same person: about one over the number of people.
	Prior  float64                  `json:"prior"`
	Levels map[string]map[string]MU `json:"levels"`
	// TF: per name comparison (given_name, family_name), the folded
	// names' relative frequencies among the records.
	TF map[string]map[string]float64 `json:"tf,omitempty"`
	// AutoMerge and Review are thresholds on the match probability.
	AutoMerge float64 `json:"auto_merge"`
	Review    float64 `json:"review"`
	// TwinShare is the share of relatives among the pairs that agree on
	// family name, birth date and house and differ only in the given name
	// (twins, or one person whose given name was replaced), as the store's
	// own records show it (see twinShare in estimate.go). nil where not
	// estimated: every such pair is held for review, as relatives are
	// then as likely as one person.
	TwinShare *float64 `json:"twin_share,omitempty"`
	// TwinShares is TwinShare per level of the given-name comparison
	// (see twinShare): a pair is weighed by its own level's share, and a
	// level missing here keeps the hold. nil where not estimated per
	// level: TwinShare decides.
	TwinShares map[string]float64 `json:"twin_shares,omitempty"`
}

// DefaultParams are the parameters used until a model is estimated from
// the store's own records. They are written from what is known of person
// data in general, not from any one data set: u from how often random
// people share a value (a first name about 1 in 100, a family name 1 in
// 500, a full birth date 1 in 15,000), m from how often one person's two
// records differ (moves, typos, married names, data entry). The town's m
// is of its own pairs, those where one record gives only a city: there no
// other address level but else can occur, and one person's records name
// the same city unless she moved away (about one pair in seven, as the
// full addresses' else).
func DefaultParams() *Params {
	return &Params{Version: 1, Source: "default", Prior: 1e-4, AutoMerge: 0.99, Review: 0.8,
		Levels: map[string]map[string]MU{
			CompGiven: {LevelExact: {0.80, 0.01}, LevelClose: {0.06, 0.004}, LevelPhonetic: {0.03, 0.003},
				LevelPrefix: {0.04, 0.003}, LevelNickname: {0.02, 0.001}, LevelSimilar: {0.03, 0.03}, LevelElse: {0.04, 0.95}},
			CompFamily: {LevelExact: {0.82, 0.002}, LevelClose: {0.05, 0.002}, LevelPhonetic: {0.03, 0.002},
				LevelPrefix: {0.02, 0.001}, LevelSimilar: {0.02, 0.01}, LevelElse: {0.06, 0.983}},
			CompBirthDate: {LevelExact: {0.885, 0.00007}, LevelClose: {0.05, 0.003}, LevelMonth: {0.015, 0.0023}, LevelOnePart: {0.02, 0.003}, LevelPartial: {0.01, 0.00001},
				LevelSimilar: {0.02, 0.0227}, LevelElse: {0.03, 0.974}},
			CompAddress: {LevelExact: {0.70, 0.0002}, LevelStreet: {0.06, 0.0003}, LevelOtherNumber: {0.02, 0.001},
				LevelPostcode: {0.05, 0.005}, LevelArea: {0.85, 0.005}, LevelCity: {0.04, 0.05}, LevelTown: {0.85, 0.05}, LevelElse: {0.13, 0.9435}},
			CompIdentifier: {LevelExact: {0.965, 1e-6}, LevelClose: {0.03, 1e-5}, LevelElse: {0.005, 0.999989}},
			CompEmail:      {LevelExact: {0.50, 1e-5}, LevelClose: {0.03, 1e-5}, LevelElse: {0.47, 0.99998}},
			CompPhone:      {LevelExact: {0.50, 1e-5}, LevelClose: {0.03, 1e-5}, LevelElse: {0.47, 0.99998}},
			CompGender:     {LevelExact: {0.97, 0.5}, LevelElse: {0.03, 0.5}},
		}}
}

// Validate reports parameters that cannot score: probabilities outside
// (0,1), thresholds out of order, a comparison without levels.
func (p *Params) Validate() error {
	if !(p.Prior > 0 && p.Prior < 1) {
		return fmt.Errorf("prior %v: want a probability between 0 and 1", p.Prior)
	}
	if !(p.Review > 0 && p.Review <= p.AutoMerge && p.AutoMerge < 1) {
		return fmt.Errorf("review %v and auto_merge %v: want 0 < review <= auto_merge < 1", p.Review, p.AutoMerge)
	}
	if t := p.TwinShare; t != nil && !(*t >= 0 && *t <= 1) {
		return fmt.Errorf("twin_share %v: want a share between 0 and 1", *t)
	}
	for level, t := range p.TwinShares {
		if !(t >= 0 && t <= 1) {
			return fmt.Errorf("twin_shares %s %v: want a share between 0 and 1", level, t)
		}
	}
	for _, c := range Comparisons {
		lv, ok := p.Levels[c]
		if !ok || len(lv) == 0 {
			return fmt.Errorf("comparison %s has no levels", c)
		}
		for name, mu := range lv {
			if !(mu.M > 0 && mu.M <= 1 && mu.U > 0 && mu.U <= 1) {
				return fmt.Errorf("comparison %s level %s: m %v u %v, want probabilities above 0", c, name, mu.M, mu.U)
			}
		}
	}
	return nil
}

// LacksLevelsOf reports whether base has a comparison level p has not: p
// was estimated by a matcher of an older revision, before that level
// existed (nickname, one_part and partial came with revision 8), and
// weighs it 0 where base would weigh it.
func (p *Params) LacksLevelsOf(base *Params) bool {
	for c, levels := range base.Levels {
		for l := range levels {
			if _, ok := p.Levels[c][l]; !ok {
				return true
			}
		}
	}
	return false
}

// Term is one comparison's part of a match weight: the waterfall of a
// decision is its terms in order.
type Term struct {
	Comparison string  `json:"comparison"`
	Level      string  `json:"level"`
	Weight     float64 `json:"weight"`
	// Note says what else decided the level ("names swapped", "term
	// frequency of a common name").
	Note string `json:"note,omitempty"`
}

// Match is the Fellegi-Sunter score of a pair: the prior's weight, the
// terms, and the resulting probability.
type Match struct {
	PriorWeight float64 `json:"prior_weight"`
	Terms       []Term  `json:"terms"`
	Weight      float64 `json:"weight"`
	Probability float64 `json:"probability"`
	// Hold says why the pair may reach review but not merge on its own,
	// whatever its probability; "" when it may merge.
	Hold string `json:"hold,omitempty"`
}

// gamma is a pair's comparison vector: the level of each comparison in
// Comparisons' order, "" where either record has no value.
type gamma [8]string

const (
	iGiven = iota
	iFamily
	iBirth
	iAddress
	iIdent
	iEmail
	iPhone
	iGender
)

// comparePeople puts two people's records on their comparison levels.
// swapped says the names matched better with one record's given and
// family name exchanged (entered into the wrong fields).
func comparePeople(a, b hub.Customer, region string, taxIsEvidence bool, p *Params) (g gamma, swapped bool) {
	return comparePrepared(preparePerson(a, region, taxIsEvidence), preparePerson(b, region, taxIsEvidence), p)
}

// comparePrepared is comparePeople on records prepared by preparePerson
// (under one region and tax id rule).
func comparePrepared(a, b *person, p *Params) (g gamma, swapped bool) {
	ga, fa, gb, fb := &a.given, &a.family, &b.given, &b.family
	straight := [2]string{givenLevel(ga, gb), nameLevelOf(fa, fb)}
	nameWeight := func(l [2]string) float64 {
		return levelWeight(p, CompGiven, l[0]) + levelWeight(p, CompFamily, l[1])
	}
	g[iGiven], g[iFamily] = straight[0], straight[1]
	known := 0
	for _, n := range []*name{ga, fa, gb, fb} {
		if n.s != "" {
			known++
		}
	}
	// Names entered into each other's fields are compared crossed, also
	// where one of the four is missing (Watson, Noah against Noah with no
	// family name). The record lacking a name is taken to hold its other
	// in the right field and the other record's names to be swapped, so
	// the one name compared is a given name where that record has only a
	// given name and a family name where it has only a family name,
	// whichever record comes first.
	if known >= 3 && (straight[0] != LevelExact || straight[1] != LevelExact) {
		crossed := [2]string{nameLevelOf(ga, fb), nameLevelOf(fa, gb)}
		if known == 3 {
			if l := crossed[0] + crossed[1]; fa.s == "" || fb.s == "" {
				crossed = [2]string{l, ""}
			} else {
				crossed = [2]string{"", l}
			}
		}
		// The same levels crossed weigh the same: no logarithms needed.
		if crossed != straight && crossed != [2]string{} && nameWeight(crossed) > nameWeight(straight)+1 {
			g[iGiven], g[iFamily], swapped = crossed[0], crossed[1], true
		}
	}
	g[iBirth] = dateLevelOf(&a.birth, &b.birth)
	g[iAddress] = addressLevel(a.addrs, b.addrs, p)
	switch compareIDSets(a.ids, b.ids) {
	case IDEqual:
		g[iIdent] = LevelExact
	case IDNear:
		g[iIdent] = LevelClose
	case IDDiffer:
		g[iIdent] = LevelElse
	}
	g[iEmail] = setLevel(a.emails, b.emails, func() bool { return nearMailboxes(a.mailboxes, b.mailboxes) })
	g[iPhone] = setLevel(a.phones, b.phones, func() bool { return nearPhones(a.phones, b.phones) })
	if x, y := a.gender, b.gender; x != "" && y != "" && x != "unknown" && y != "unknown" {
		g[iGender] = LevelElse
		if x == y {
			g[iGender] = LevelExact
		}
	}
	return g, swapped
}

func levelWeight(p *Params, comp, level string) float64 {
	if level == "" {
		return 0
	}
	mu, ok := p.levelMU(comp, level)
	if !ok {
		return 0
	}
	return mu.Weight()
}

// levelMU is the m and u of a level. A model written before matcher
// revision 10 (a hand-set params file) has no area level: there an agreeing
// postal code weighs as it did then, as the postcode level.
func (p *Params) levelMU(comp, level string) (MU, bool) {
	mu, ok := p.Levels[comp][level]
	if !ok && comp == CompAddress && level == LevelArea {
		mu, ok = p.Levels[comp][LevelPostcode]
	}
	return mu, ok
}

// nameLevel compares two folded names.
func nameLevel(x, y string) string {
	nx, ny := newName(x), newName(y)
	return nameLevelOf(&nx, &ny)
}

// nameLevelOf is nameLevel of two prepared names.
func nameLevelOf(px, py *name) string {
	x, y := px.s, py.s
	if (px.digits || py.digits) && x != "" && y != "" && x != y {
		// A digit inside a name is a scanner's (or a keyer's) reading of
		// the letter it looks like (li5a, 8ob, l1sa): the names compare
		// with each digit read as that letter, the slip itself one typo,
		// so never more than close (until matcher revision 9 the digit was
		// a letter of its own, and li5a only "similar" to lisa).
		if rx, ry := readLookAlikes(x, y), readLookAlikes(y, x); rx != x || ry != y {
			nx, ny := newName(rx), newName(ry)
			if l := nameLevelPlain(&nx, &ny); l != LevelExact {
				return l
			}
			return LevelClose
		}
	}
	return nameLevelPlain(px, py)
}

// nameLevelPlain is nameLevelOf without reading digits as letters.
func nameLevelPlain(px, py *name) string {
	x, y := px.s, py.s
	switch {
	case x == "" || y == "":
		return ""
	case x == y:
		return LevelExact
	}
	// Only similarities of 0.7 and more decide a level below.
	const floor = 0.7
	s := jwFrom(x, y, &px.counts, &py.counts, floor)
	if sx, sy := px.sorted, py.sorted; sx != x || sy != y {
		s = max(s, jwFrom(sx, sy, &px.counts, &py.counts, floor))
	}
	// A space typed into a name or lost from it ("hayd en", "Maryann" and
	// "Mary Ann", "van der Berg" and "Vanderberg") is a typo: the names
	// compare without their spaces too.
	jx, jy, ox, oy := x, y, px.ocr, py.ocr
	if nx, ny := px.joined, py.joined; nx != x || ny != y {
		if nx == ny {
			return LevelClose
		}
		jx, jy, ox, oy = nx, ny, px.joinedOCR, py.joinedOCR
		s = max(s, jwFrom(nx, ny, &px.joinedCounts, &py.joinedCounts, floor))
	}
	switch {
	case s >= 0.92:
		return LevelClose
	case s >= 0.7 && px.phonetic().alike(py.phonetic()): // names that sound alike are never far apart in spelling
		return LevelPhonetic
	case s >= 0.7 && (len(jx) >= 5 && len(jy) >= 5 && oneEditApart(jx, jy, func(byte) bool { return true }) ||
		ox == oy):
		// One letter changed, dropped or two swapped in a name long enough
		// that Jaro-Winkler undervalues it (Walsh/Waksh), or letters a
		// scanner reads one for the other (Smith/Srnith).
		return LevelClose
	case len(x) >= 3 && len(y) >= 3 && (strings.HasPrefix(x, y) || strings.HasPrefix(y, x)):
		return LevelPrefix
	case s >= 0.80:
		return LevelSimilar
	}
	return LevelElse
}

// givenLevel compares two folded given names: as nameLevel, except that
// two known given names that are not forms of one name are other names
// however they sound or begin (Anna and Johann share a Double Metaphone
// code, Christopher and Christine one too).
func givenLevel(px, py *name) string {
	l := nameLevelOf(px, py)
	x, y := px.s, py.s
	if (l == LevelPhonetic || l == LevelPrefix) && knownGivenName(x) && knownGivenName(y) && !oneGivenName(x, y) {
		return LevelElse
	}
	if (l == LevelSimilar || l == LevelElse) && (shortFormOf(x, y) || shortFormOf(y, x)) {
		// A name and its short form are one person's name far more often
		// than two strangers' (or two relatives', who are given other
		// names): weighed as "else" they cost a copy with a nickname 4-5
		// bits, as much as two other names.
		return LevelNickname
	}
	return l
}

// lookAlikes are the letters (lower case, and '|' for a stroke) that a
// digit is read as, or read for, on a scanned or badly keyed form: 0/o,
// 1/l/i, 2/z, 4/a, 5/s, 6/b/g, 7/t, 8/b, 9/g/q. A digit inside a name and
// a letter inside a numeric postal code are such slips far more often
// than anything else.
var lookAlikes = [10]string{"o", "li|", "z", "", "a", "s", "bg", "t", "b", "gq"}

// lookAlike reports whether d is a digit and c one of the letters it is
// confused with (either case).
func lookAlike(d, c byte) bool {
	if !isDigit(d) {
		return false
	}
	if c >= 'A' && c <= 'Z' {
		c += 'a' - 'A'
	}
	return strings.IndexByte(lookAlikes[d-'0'], c) >= 0
}

// readLookAlikes returns name x with each digit replaced by the letter it
// looks like, choosing among several (1 is l or i) the one the other name
// y has at that place, counted from the start or, where a letter was lost
// or added before it, from the end; a digit without a look-alike stays.
func readLookAlikes(x, y string) string {
	if !strings.ContainsAny(x, digitChars) {
		return x
	}
	b := []byte(x)
	for i, c := range b {
		if !isDigit(c) || lookAlikes[c-'0'] == "" {
			continue
		}
		b[i] = lookAlikes[c-'0'][0]
		if i < len(y) && lookAlike(c, y[i]) && y[i] != '|' {
			b[i] = y[i]
		} else if j := len(y) - (len(x) - i); j >= 0 && j < len(y) && lookAlike(c, y[j]) && y[j] != '|' {
			b[i] = y[j]
		}
	}
	return string(b)
}

// digitChars are the digits a name or postal code may hold.
const digitChars = "0123456789"

// lookAlikeSlip reports whether two normalized postal codes differ in one
// character only, a digit in one and a letter that looks like it in the
// other (2812O for 28120, 276L4 for 27614), with the code of the digit all
// digits: in a numeric postal code system the letter is no code of its
// own but a misreading of the digit, unlike a digit changed, which is as
// often the neighbouring district's code.
func lookAlikeSlip(x, y string) bool {
	if len(x) != len(y) || x == y {
		return false
	}
	at := -1
	for i := range len(x) {
		if x[i] != y[i] {
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if allDigits(y) {
		x, y = y, x
	}
	return allDigits(x) && lookAlike(x[at], y[at])
}

// ocrFold maps letter groups that optical character recognition confuses
// to one spelling.
var ocrFold = strings.NewReplacer("rn", "m", "vv", "w", "cl", "d", "0", "o", "1", "l")

// sounds are a folded name's phonetic codes, its spaces left out: the
// Kölner Phonetik and the Double Metaphone's primary and secondary.
type sounds struct{ cologne, primary, secondary string }

func soundsOf(joined string) sounds {
	s := sounds{cologne: ColognePhonetic(joined)}
	s.primary, s.secondary = matchr.DoubleMetaphone(joined)
	return s
}

// alike reports whether two names share a phonetic code.
func (x *sounds) alike(y *sounds) bool {
	if x.cologne != "" && x.cologne == y.cologne {
		return true
	}
	px, sx, py, sy := x.primary, x.secondary, y.primary, y.secondary
	return px != "" && (px == py || px == sy) || sx != "" && (sx == py || sx == sy)
}

// dateLevel compares two birth dates, YYYY-MM-DD or partial (YYYY,
// YYYY-MM): a partial date is compared as far as both tell (see
// partialDateLevel). Full dates
// that are no typo apart are compared by the days between them, not by
// their digits: 1999-12-28 and 2000-01-03 are six days apart, a copy's
// date remembered a few days off, not two people born years apart.
func dateLevel(x, y string) string {
	bx, by := newBirthDate(x), newBirthDate(y)
	return dateLevelOf(&bx, &by)
}

// birthDate is a trimmed birth date with its day number (days since
// 1970-01-01) where it is a calendar date, read once per record: parsing
// it for every pair cost a third of the comparisons' time.
type birthDate struct {
	s   string
	day int
	ok  bool // s is a YYYY-MM-DD calendar date
}

func newBirthDate(s string) birthDate {
	b := birthDate{s: s}
	if len(s) == len(time.DateOnly) {
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			b.day, b.ok = int(t.Unix()/86400), true
		}
	}
	return b
}

// dateLevelOf is dateLevel of two prepared birth dates.
func dateLevelOf(bx, by *birthDate) string {
	x, y := bx.s, by.s
	if x == "" || y == "" {
		return ""
	}
	if len(x) == 10 && len(y) == 10 {
		switch {
		case x == y:
			return LevelExact
		case x[:4] == y[:4] && x[5:7] == y[8:10] && x[8:10] == y[5:7]:
			return LevelClose // day and month swapped
		case oneEditApart(strings.ReplaceAll(x, "-", ""), strings.ReplaceAll(y, "-", ""), isDigit) &&
			len(strings.ReplaceAll(x, "-", "")) == len(strings.ReplaceAll(y, "-", "")):
			return LevelClose
		}
		switch d := bx.day - by.day; {
		case !bx.ok || !by.ok:
			return partialDateLevel(x, y)
		case d >= -31 && d <= 31:
			return LevelMonth
		case x[5:] == y[5:] || x[:4] == y[:4] && x[8:] == y[8:]:
			return LevelOnePart
		case d >= -366 && d <= 366:
			return LevelSimilar
		}
		return LevelElse
	}
	return partialDateLevel(x, y)
}

// partialDateLevel compares dates of which at least one is no calendar
// date (a year alone, a year and month, or a day the calendar lacks such
// as 02-30) by what both tell: agreeing on year and month they are at
// most a month apart (the month level, as two full dates would be),
// months apart within a year similar, and the same year alone similar.
// Until matcher revision 5 two copies both giving only "1972-02" were
// "similar" (-0.2 bits by default), as if they agreed on the year alone;
// until revision 8 they were the month level, weighed as two full dates
// days apart are (see LevelPartial).
func partialDateLevel(x, y string) string {
	mx, okx := monthNumber(x)
	my, oky := monthNumber(y)
	if okx && oky {
		switch d := mx - my; {
		case d == 0:
			return LevelPartial
		case d >= -12 && d <= 12:
			return LevelSimilar
		}
		return LevelElse
	}
	if len(x) >= 4 && len(y) >= 4 && x[:4] == y[:4] {
		return LevelSimilar
	}
	return LevelElse
}

// monthNumber reads the year and month of a YYYY-MM[-...] date as months
// since year 0.
func monthNumber(s string) (int, bool) {
	if len(s) < 7 || s[4] != '-' {
		return 0, false
	}
	y, err := strconv.Atoi(s[:4])
	if err != nil {
		return 0, false
	}
	m, err := strconv.Atoi(s[5:7])
	if err != nil || m < 1 || m > 12 {
		return 0, false
	}
	return y*12 + m - 1, true
}

// addressLevel compares the best-agreeing pair of addresses.
func addressLevel(as, bs []place, p *Params) string {
	best, level := math.Inf(-1), ""
	for i := range as {
		for j := range bs {
			l := placePair(&as[i], &bs[j])
			if w := levelWeight(p, CompAddress, l); l != "" && w > best {
				best, level = w, l
			}
		}
	}
	return level
}

func addressPair(x, y hub.Address) string {
	px, py := newPlace(x), newPlace(y)
	return placePair(&px, &py)
}

// placePair is addressPair of two prepared addresses.
func placePair(x, y *place) string {
	pc, city := postcodeLevelOf(x.postcode, y.postcode), cityLevel(x, y)
	if city == LevelExact && (x.cityOnly() || y.cityOnly()) {
		return LevelTown
	}
	if pc != LevelExact && pc != LevelClose && (pc != "" || city != LevelExact) {
		// The street counts only within one postal code (or one city
		// where a postal code is missing): comparing it is the costly part.
		switch {
		case city == LevelExact:
			// Not the same house even where street and number agree: a
			// city's districts repeat street names (Berlin has more than
			// one Hauptstraße), each under its own postal code.
			return LevelCity
		case pc == "" && city == "":
			if x.noStreet || y.noStreet {
				return ""
			}
		}
		return LevelElse
	}
	// A postal code one look-alike character off in a numeric system
	// (2812O, 28120) is that code misread, so where the city does not
	// disagree it counts as the code agreeing for the other_number and
	// postcode levels below (the street level takes any code one typo off
	// there already; until matcher revision 9 it was one typo like any
	// other: the city level where neither record names a street, or
	// "else" where neither names a city either).
	samePC := pc == LevelExact || pc == LevelClose && city != LevelElse && lookAlikeSlip(x.postcode, y.postcode)
	sameStreet, sameHouse, noNumber := compareStreets(x, y)
	switch {
	case sameHouse && pc == LevelExact:
		return LevelExact
	case sameHouse && (pc == LevelClose && city != LevelElse || pc == "" && city == LevelExact), noNumber && pc == LevelExact,
		noNumber && pc == LevelClose && city != LevelElse:
		// A house number missing on one side with the postal code one
		// typo off in a city that does not disagree: the same street as
		// far as both records tell, as with the postal code exact. A
		// postal code one typo off is a slip only where the city does not
		// disagree: two cities' codes are often a digit apart (48490 in
		// Paris's place and 46490 in Nantes'), and their street names
		// repeat (until matcher revision 8 that was the street level
		// whatever the cities).
		return LevelStreet
	case sameStreet && samePC, sameStreet && city != LevelElse && swappedNeighbours(x.postcode, y.postcode):
		// Another house number with two neighbouring digits of the postal
		// code swapped, in a city that does not disagree: a keying slip. One
		// digit changed is not enough here: it is as often the next
		// district's code, and a city's districts repeat street names.
		return LevelOtherNumber
	case samePC && (x.noStreet || y.noStreet):
		return LevelArea
	case samePC:
		return LevelPostcode
	case city == LevelExact:
		return LevelCity
	}
	return LevelElse
}

// compareStreets reads two addresses' street lines: the same street, the
// same house (street, number and unit), and the same street with a house
// number missing on one side. A street missing on one side where the
// building or property line agrees (a farm's or a home's name, as
// Australian and British rural addresses give it) counts as the same
// street with the number missing unless the numbers differ: the same place
// as far as both records tell, never more than that.
func compareStreets(x, y *place) (sameStreet, sameHouse, noNumber bool) {
	px, py := x.parsed, y.parsed
	sameStreet = similarStreet(px.Street, py.Street)
	if !sameStreet && (x.multi || y.multi) {
		// The lines in another order: the street one system keeps on
		// its first line, the other below a building's name.
		for _, s := range x.names {
			if similarStreet(s, py.Street) {
				sameStreet = true
			}
		}
		for _, s := range y.names {
			if similarStreet(px.Street, s) {
				sameStreet = true
			}
		}
	}
	sameHouse = sameStreet && px.Number != "" && px.Number == py.Number &&
		(px.Unit == "" || py.Unit == "" || px.Unit == py.Unit)
	// A house number missing on one side is no evidence of another
	// house: the street agrees as far as both records tell.
	noNumber = sameStreet && (px.Number == "" || py.Number == "")
	if !sameStreet && (px.Street == "" || py.Street == "") &&
		(px.Number == "" || py.Number == "" || px.Number == py.Number) && sameBuilding(x.buildings, y.buildings) {
		noNumber = true
	}
	if !sameStreet && (px.Street == "") != (py.Street == "") && px.Number != "" && px.Number == py.Number &&
		(len(x.buildings) == 0 || len(y.buildings) == 0) {
		// The street line lost on one side, the house number agreeing
		// and no property line on both sides to disagree: the same street
		// as far as both tell, as a number lost from an agreeing street is
		// (one street in a postal code is about as rare as one number).
		noNumber = true
	}
	return sameStreet, sameHouse, noNumber
}

// sameBuilding reports whether two street fields share a line without a
// house number that names the same building or property ("Rose Cottage",
// "busbey's flat" and "busbeys flat"), also with a space lost or added;
// xs and ys are the fields' building names (see place).
func sameBuilding(xs, ys []string) bool {
	for _, bx := range xs {
		for _, by := range ys {
			if similarStreet(bx, by) {
				return true
			}
		}
	}
	return false
}

// buildingName is a street line's normalized text where the line has no
// house number and no unit (a unit alone, "Apt 4", names no building).
func buildingName(line string) string {
	p := parseOneLine(line)
	if p.Number != "" || p.Unit != "" || p.Street == "" {
		return ""
	}
	return p.Street
}

// similarStreet compares two normalized street names, also without their
// spaces: a space lost or added ("pearsonstreet", "Haupt Str") is a typo.
func similarStreet(x, y string) bool {
	if x == "" || y == "" {
		return false
	}
	if x == y {
		return true
	}
	switch s := strutil.Similarity(x, y, jw); {
	case s >= 0.92:
		return true
	case s < 0.75: // far apart with their spaces too: not worth a second look
		return false
	}
	nx, ny := strings.ReplaceAll(x, " ", ""), strings.ReplaceAll(y, " ", "")
	return (nx != x || ny != y) && strutil.Similarity(nx, ny, jw) >= 0.92
}

func postcodeLevel(x, y string) string {
	return postcodeLevelOf(NormalizePostcode(x), NormalizePostcode(y))
}

// postcodeLevelOf is postcodeLevel of two normalized postal codes.
func postcodeLevelOf(x, y string) string {
	switch {
	case x == "" || y == "":
		return ""
	case x == y:
		return LevelExact
	case len(x) != len(y) && min(len(x), len(y)) >= 3 && allDigits(x) && allDigits(y) &&
		strings.TrimLeft(x, "0") == strings.TrimLeft(y, "0"):
		// A spreadsheet read the postal code as a number and dropped its
		// leading zero (06419 -> 6419 in New England, 01067 -> 1067 in
		// Dresden, 0800 -> 800 in Darwin): the same code.
		return LevelExact
	case len(x) == len(y):
		diff := 0
		for i := range len(x) {
			if x[i] != y[i] {
				diff++
			}
		}
		// One character changed, or two neighbours swapped (2617 for
		// 2167): a single slip of the keyboard either way.
		if diff == 1 || swappedNeighbours(x, y) {
			return LevelClose
		}
	}
	return LevelElse
}

// swappedNeighbours says whether two postal codes differ only by two
// neighbouring characters swapped (3782 for 3728).
func swappedNeighbours(x, y string) bool {
	if len(x) != len(y) || x == y {
		return false
	}
	i := 0
	for i < len(x) && x[i] == y[i] {
		i++
	}
	return i+1 < len(x) && x[i] == y[i+1] && x[i+1] == y[i] && x[i+2:] == y[i+2:]
}

// cityLevel compares two addresses' folded city names.
func cityLevel(px, py *place) string {
	switch x, y := px.city, py.city; {
	case x == "" || y == "":
		return ""
	case x == y || jwFrom(x, y, &px.cityRunes, &py.cityRunes, 0.92) >= 0.92:
		return LevelExact
	}
	return LevelElse
}

// setLevel compares two sets of normalized contact values, the empty
// ones left out: exact when they share one, close when one is a typo of
// the other, else when both have values.
func setLevel(xs, ys []string, near func() bool) string {
	if len(xs) == 0 || len(ys) == 0 {
		return ""
	}
	for _, x := range xs {
		for _, y := range ys {
			if x == y {
				return LevelExact
			}
		}
	}
	if near() {
		return LevelClose
	}
	return LevelElse
}

// MatchPeople scores two people's records with p.
func (p *Params) MatchPeople(a, b hub.Customer, region string, taxIsEvidence bool) Match {
	return p.matchPrepared(preparePerson(a, region, taxIsEvidence), preparePerson(b, region, taxIsEvidence))
}

// matchPrepared is MatchPeople of records prepared by preparePerson.
func (p *Params) matchPrepared(a, b *person) Match {
	g, swapped := comparePrepared(a, b, p)
	m := Match{PriorWeight: math.Log2(p.Prior / (1 - p.Prior))}
	m.Weight = m.PriorWeight
	for i, c := range Comparisons {
		if g[i] == "" {
			continue
		}
		mu, ok := p.levelMU(c, g[i])
		if !ok {
			continue
		}
		t := Term{Comparison: c, Level: g[i]}
		if g[i] == LevelExact && (i == iGiven || i == iFamily) {
			if f, ok := p.tfValue(c, a, i); ok && f > mu.U {
				// A common name: its own frequency, not the average.
				mu.U, t.Note = f, "common name"
			}
		}
		if swapped && (i == iGiven || i == iFamily) {
			t.Note = strings.TrimPrefix(t.Note+"; names swapped", "; ")
		}
		t.Weight = math.Round(mu.Weight()*100) / 100
		m.Terms = append(m.Terms, t)
		m.Weight += mu.Weight()
	}
	m.Probability = 1 / (1 + math.Exp2(-m.Weight))
	m.Hold = hold(a, b, g, swapped)
	if m.Hold == holdGivenNames && sameDayHouse(a, b, g, swapped) && p.copiesNotTwins(g[iGiven]) {
		// The store's own records say that pairs like this one are
		// copies far more often than twins: the hold is lifted and the
		// probability decides, as for any pair.
		m.Hold = ""
	}
	m.Weight = math.Round(m.Weight*100) / 100
	m.PriorWeight = math.Round(m.PriorWeight*100) / 100
	return m
}

// tfValue is the frequency of the exactly shared name of comparison i
// (a's value: the level is exact, so b's is the same, folded).
func (p *Params) tfValue(comp string, a *person, i int) (float64, bool) {
	tf := p.TF[comp]
	if len(tf) == 0 {
		return 0, false
	}
	v := a.given.s
	if i == iFamily {
		v = a.family.s
	}
	f, ok := tf[v]
	return f, ok
}

// hold names the patterns where the model's independence assumption fails
// and relatives look like one person: family members share a family name,
// an address, and e-mail addresses or phone numbers one character apart
// (hans.meier@ and hans.meyer@, a family's consecutive numbers). Such a
// pair is held for review unless a birth date, an identifier, an exact
// e-mail or phone, or the same house confirms it. Where the given names
// differ, only what belongs to one person (an identifier) confirms it:
// twins share family name, birth date, address and often the phone, and
// spouses and siblings a mailbox (issue #15: an exact e-mail joined
// them). swapped says g compared a's given name with b's family name.
func hold(a, b *person, g gamma, swapped bool) string {
	strong := g[iBirth] == LevelExact || g[iIdent] == LevelExact || g[iEmail] == LevelExact || g[iPhone] == LevelExact
	house := g[iAddress] == LevelExact || g[iAddress] == LevelStreet
	ga, gb := a.given.s, b.given.s
	// The given names as compared, their level and the other name's:
	// where one record's names were swapped, which crossed pair holds the
	// given names is not known: the one that differs, where both its
	// names are known given names (else it may as well be a married
	// name).
	gx, gy, gl, other := &a.given, &b.given, g[iGiven], g[iFamily]
	if swapped && otherName(g[iFamily]) {
		gx, gy, gl, other = &a.family, &b.given, g[iFamily], g[iGiven]
	} else if swapped {
		gy = &b.family
	} else if fa, fb := &a.family, &b.family; otherName(other) && !otherName(gl) && !knownGivenName(ga) &&
		knownGivenName(fa.s) && knownGivenName(fb.s) {
		// Both records with their names the other way round (King
		// Jack, King Liam): the names that agree are no known given
		// name, the two that differ are.
		gx, gy, gl, other = fa, fb, other, gl
	}
	personal := g[iIdent] == LevelClose || g[iIdent] == LevelExact
	if genderedForms(gx.refold, gy.refold) && !personal &&
		(house || g[iBirth] == LevelExact) && !sameGender(a.gender, b.gender) {
		// Daniel and Daniela, Paul and Paula: one letter apart, they read
		// as a typo, but with one family name and one house they are a
		// brother and a sister, and with one birth date twins, who need
		// not live together (a twin's record after a move joined the
		// brother before), unless both records say the same gender.
		return "a masculine and a feminine form of one given name at one family name and address: a brother and a sister (twins, where the birth date agrees) are as likely as a typo"
	}
	if ga != "" && gb != "" && otherName(gl) && !oneGivenName(gx.s, gy.s) &&
		(!swapped && (gl == LevelSimilar || gl == LevelElse) || knownGivenName(gx.s) && knownGivenName(gy.s)) &&
		g[iIdent] != LevelClose && g[iIdent] != LevelExact { // a mistyped identifier is the person's, not a relative's
		// Relatives share a family name and an address, twins a birth
		// date too; only the given name tells them apart, and here it
		// does not agree, nor is one a nickname, initial or part of the
		// other. A family name that differs as well (a sister under her
		// married name) leaves only the birth date and the house, which
		// twins share too. Names that sound alike or begin alike are other names
		// only where both are known given names (Anna and Johann,
		// Christopher and Christine).
		return holdGivenNames
	}
	// A missing given name that an e-mail address spells counts as the
	// same given name.
	given := g[iGiven] == LevelExact
	if ga == "" || gb == "" {
		given = ga == "" && emailsSpellName(a.c.Emails, gb, b.family.s) || gb == "" && emailsSpellName(b.c.Emails, ga, a.family.s)
		// An identifier one typo apart (two digits swapped) is the
		// person's, as for the given names below: relatives' numbers are
		// not one typo apart. So is a birth date one typo apart (a digit
		// changed, two swapped, day and month swapped): relatives share a
		// birth date only as twins, which an exact one already admits,
		// and one typo apart only by chance (the same day and month in
		// years a digit apart: a few in a thousand pairs of relatives),
		// far less often than a copy's date is mistyped.
		if !given && !strong && g[iIdent] != LevelClose && g[iBirth] != LevelClose {
			return "a given name is missing and only the family name confirms the person: a relative is as likely"
		}
	}
	if strong || house {
		return ""
	}
	switch {
	case g[iEmail] == LevelClose && (!given || g[iFamily] != LevelExact):
		return "e-mail addresses one letter apart confirm only the very same name"
	case g[iPhone] == LevelClose && (!given || g[iFamily] != LevelExact && g[iFamily] != LevelClose):
		return "phone numbers one digit apart confirm only the same given name and a family name a typo apart"
	}
	return ""
}

// holdGivenNames is hold's reason where only the given names tell two
// records apart.
const holdGivenNames = "the given names differ and nothing that belongs to one person confirms the person: a relative (a twin, where the birth date agrees) is as likely"

// sameDayHouse reports whether a pair agrees on everything twins share:
// the family name (a typo apart at most, or missing on a side, where it
// cannot disagree; names not swapped), the birth date and the street
// (sameStreetFamily).
func sameDayHouse(a, b *person, g gamma, swapped bool) bool {
	return sameStreetFamily(a, b, g, swapped) && g[iBirth] == LevelExact
}

// sameStreetFamily reports whether a pair agrees on the family name (as
// sameDayHouse) and lives in one street: the same house, or another
// number in the same street and postal code. Relatives live next door or
// down the street as well as under one roof, and twins come at the same
// few in a hundred of them wherever they live (twinShare). A copy whose
// given name and house number were both mistyped looks like a twin next
// door, as one with only the given name replaced looks like a twin under
// one roof: twinShare weighs both against the relatives around them.
func sameStreetFamily(a, b *person, g gamma, swapped bool) bool {
	return !swapped && (g[iFamily] == LevelExact || g[iFamily] == LevelClose || g[iFamily] == "") &&
		(g[iAddress] == LevelExact || g[iAddress] == LevelStreet || g[iAddress] == LevelOtherNumber ||
			(g[iAddress] == LevelArea || g[iAddress] == LevelPostcode) && postcodesOnly(a, b))
}

// postcodesOnly reports whether neither record names a street: a postal
// code that agrees is then all their addresses can say (a British
// postcode's dozen or so doors, a street's stretch). twinShare counts the
// relatives at the same grain, so a coarser code (a German Postleitzahl's
// thousands of doors, where namesakes born on other days count as
// relatives too) only keeps the hold.
func postcodesOnly(a, b *person) bool {
	for _, p := range [2]*person{a, b} {
		if len(p.addrs) == 0 {
			return false
		}
		for i := range p.addrs {
			if !p.addrs[i].noStreet || p.addrs[i].postcode == "" {
				return false
			}
		}
	}
	return true
}

// copiesNotTwins reports whether the model's twin share at a given-name
// level leaves a pair that only the given name tells apart at least
// AutoMerge likely to be one person.
func (p *Params) copiesNotTwins(level string) bool {
	if p.TwinShares != nil {
		t, ok := p.TwinShares[level]
		return ok && 1-t >= p.AutoMerge
	}
	return p.TwinShare != nil && 1-*p.TwinShare >= p.AutoMerge
}

// sameGender reports whether both records state one gender (trimmed,
// lower-case).
func sameGender(x, y string) bool {
	return x != "" && x != "unknown" && x == y
}

// Explain scores two records as the resolver does and says how: for
// persons under the Fellegi-Sunter model the waterfall of match weights;
// otherwise the weighted score alone. ok is false when fuzzy matching is
// off or the kinds differ.
func (r *Resolver) Explain(a, b Record) (ev hub.MatchEvidence, ok bool) {
	f := r.cfg.Fuzzy
	if f == nil || a.Customer.Kind != b.Customer.Kind {
		return ev, false
	}
	if b.Key() < a.Key() {
		a, b = b, a
	}
	ev.A, ev.B = a.Key(), b.Key()
	_, auto := f.thresholds(a.Customer.Kind)
	if !f.probabilistic(a.Customer.Kind) {
		s, mergeable := f.score(a.Customer, b.Customer, r.cfg.DefaultRegion, r.taxIsEvidence(a.Customer.Kind))
		ev.Method, ev.Probability = MethodWeighted, f.linkScore(a.Customer.Kind, s)
		ev.Auto = mergeable && ev.Probability >= auto
		return ev, true
	}
	m := f.People.MatchPeople(a.Customer, b.Customer, r.cfg.DefaultRegion, r.taxIsEvidence(a.Customer.Kind))
	ev.Method, ev.PriorWeight, ev.Weight, ev.Hold = MethodFellegiSunter, m.PriorWeight, m.Weight, m.Hold
	ev.Probability = f.linkScore(a.Customer.Kind, m.Probability)
	ev.Auto = m.Hold == "" && ev.Probability >= auto
	for _, t := range m.Terms {
		ev.Terms = append(ev.Terms, hub.MatchTerm{Comparison: t.Comparison, Level: t.Level, Weight: t.Weight, Note: t.Note})
	}
	return ev, true
}

// matcherRevision counts changes of the code's decisions under one
// configuration: a store keeps links and clusters made by the code of its
// time, and only a changed fingerprint makes it score and re-cluster them.
// 2: an exact e-mail no longer confirms a person whose given name differs
// (the spouses of issue #15), and a shared e-mail or phone is weighed.
// 3: a space typed into or lost from a name is a typo; a street field
// holding only a house number names no street; a property's name that
// agrees where one street is missing, and a house number missing with the
// postal code one typo off, are the same street; an identifier one typo
// apart confirms a person whose given name is missing.
// 4: a city that agrees where one record gives no street and no postal
// code is the town level, no longer "the same city, another home"; the
// names are compared crossed also where a record lacks one of them; birth
// dates at most 31 days apart are the month level, and similar is at most
// a year apart, no longer the same calendar year.
// 5: dates of which one is partial (YYYY-MM) or no calendar day agree as
// far as both tell: the same year and month is the month level, no longer
// "similar" as if only the year agreed.
// 6: the twin hold is lifted per level of the given names (TwinShares),
// and a postal code that agrees where neither record names a street is
// one street to it, as far as both tell.
// 7: the same street with another house number and two neighbouring
// digits of the postal code swapped, in a city that does not disagree, is
// other_number, no longer "the same city" (or nothing where no city is
// given); a street missing on one side with the house number agreeing and
// no property lines to disagree is the same street with the number missing,
// no longer only the postal code.
// 8: a short form of a given name that is no name of its own (Bob for
// Robert, Peggy for Margaret) is the nickname level, no longer "else"; the
// same house with the postal code one typo off is the street level only
// where the city does not disagree, no longer whatever the cities; birth
// dates of which two parts agree and the third is further off than a month
// (1960-07-11 and 1958-07-11) are the one_part level, no longer "similar"
// or "else"; a name similarity exactly on a level's threshold reaches it
// (Jaro-Winkler of "ara" and "ava" is 4/5, computed 0.79999999999999993);
// the same year and month where a date is partial is the partial level,
// whose m the estimate takes from the store's share of partial dates, no
// longer the month level.
// 9: a digit inside a name is read as the letter it looks like (li5a is
// lisa one typo off: close, no longer "similar"), and a postal code one
// look-alike character off in a numeric system (2812O and 28120) counts as
// the code agreeing where the city does not disagree: the postcode level
// where neither record names a street, no longer the city level or "else".
// 10: a postal code that agrees where a record gives no street is the area
// level (m as the town level's), no longer "the same postal code, another
// street".
// 11: an address kept in one field ("8 Stanley St, Winston Hills NSW
// 2153") with no postal code or city of its own is read into its parts
// (splitOneLine) for blocking and comparing, no longer one street line
// that compared as "else" with every other.
const matcherRevision = 11

// Fingerprint identifies what fuzzy links depend on: the fuzzy
// configuration (method, thresholds, weights, the person model), the
// tax id rule and the matcher's revision. A store whose links were scored under another fingerprint
// scores them again (hub/store Rescore).
func (r *Resolver) Fingerprint() string {
	data, _ := json.Marshal(struct {
		Fuzzy    *FuzzyConfig
		Veto     string
		Revision int
	}{r.cfg.Fuzzy, r.cfg.TaxIDVeto, matcherRevision})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// ModelSource says which person model the resolver uses ("default",
// "estimated from ...", or "weighted" / "no fuzzy matching").
func (r *Resolver) ModelSource() string {
	switch f := r.cfg.Fuzzy; {
	case f == nil:
		return "no fuzzy matching"
	case f.Method == MethodWeighted:
		return "weighted"
	default:
		return f.People.Source
	}
}
