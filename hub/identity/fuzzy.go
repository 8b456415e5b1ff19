package identity

import (
	"strings"

	"github.com/adrg/strutil"
	"github.com/adrg/strutil/metrics"

	"github.com/crmhub/crmhub/hub"
)

// ClassBlock is the class of blocking keys: records sharing one are
// compared by the fuzzy scorer, never merged by the key itself.
const ClassBlock = "blk"

// FuzzyConfig turns on fuzzy matching: records sharing a blocking key
// (postal code + phonetic family name, phonetic family name + initial,
// e-mail domain + initials, postal code + organization name stem) are scored by name and address
// similarity; above AutoMerge they merge, between Review and AutoMerge
// the pair goes to the review queue.
type FuzzyConfig struct {
	AutoMerge float64 // default 0.93
	Review    float64 // default 0.85
	// NameWeight and AddressWeight combine the comparators; defaults 0.65
	// and 0.35. A pair without addresses on both sides is scored on the
	// name alone and can at most reach review: a name is not enough to merge.
	NameWeight, AddressWeight float64
	// MaxBlock skips blocks with more records than this (a very common
	// name in one postal code says little). Default 50.
	MaxBlock int
}

// DefaultFuzzy returns the default fuzzy configuration.
func DefaultFuzzy() *FuzzyConfig {
	f := &FuzzyConfig{}
	f.defaults()
	return f
}

func (f *FuzzyConfig) defaults() {
	if f.AutoMerge == 0 {
		f.AutoMerge = 0.93
	}
	if f.Review == 0 {
		f.Review = 0.85
	}
	if f.NameWeight == 0 && f.AddressWeight == 0 {
		f.NameWeight, f.AddressWeight = 0.65, 0.35
	}
	if f.MaxBlock == 0 {
		f.MaxBlock = 50
	}
}

var fold = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", "é", "e", "è", "e", "á", "a", "à", "a",
	"ó", "o", "ñ", "n", "ç", "c", "-", " ", ".", " ", ",", " ", "'", "", "&", " ")

// foldName lower-cases, spells out umlauts and drops punctuation.
func foldName(s string) string {
	return strings.Join(strings.Fields(fold.Replace(strings.ToLower(s))), " ")
}

var legalForms = map[string]bool{"gmbh": true, "ag": true, "kg": true, "co": true, "ohg": true, "ug": true, "ek": true,
	"e": true, "k": true, "ltd": true, "inc": true, "llc": true, "sa": true, "sarl": true, "bv": true, "se": true, "mbh": true, "und": true}

// orgStem drops legal forms from an organization name.
func orgStem(s string) string {
	var out []string
	for _, w := range strings.Fields(foldName(s)) {
		if !legalForms[w] {
			out = append(out, w)
		}
	}
	return strings.Join(out, " ")
}

var streetAbbr = strings.NewReplacer("strasse", "str", "straße", "str", "str.", "str", "platz", "pl", "pl.", "pl", "weg", "wg")

func normStreet(s string) string {
	s = strings.ToLower(s)
	s = streetAbbr.Replace(s)
	return foldName(s)
}

// personName is the comparable name of a person.
func personName(c hub.Customer) string {
	if c.GivenName != "" || c.FamilyName != "" {
		return foldName(c.GivenName + " " + c.FamilyName)
	}
	return foldName(c.FullName)
}

func familyName(c hub.Customer) string {
	if c.FamilyName != "" {
		return foldName(c.FamilyName)
	}
	f := strings.Fields(foldName(c.FullName))
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// blockKeys returns the blocking keys of a record, without kind prefix.
func blockKeys(c hub.Customer) []string {
	var keys []string
	postals := map[string]bool{}
	for _, a := range c.Addresses {
		// The postal code alone, without the country: one system leaves
		// the country empty where another fills it, and the scorer
		// compares the street anyway.
		if p := strings.ReplaceAll(strings.ToUpper(a.PostalCode), " ", ""); p != "" {
			postals[p] = true
		}
	}
	if c.Kind == "organization" {
		stem := orgStem(c.OrganizationName)
		if f := strings.Fields(stem); len(f) > 0 {
			for p := range postals {
				keys = append(keys, "pn:"+p+"|"+ColognePhonetic(f[0]))
			}
		}
		return keys
	}
	fam := familyName(c)
	if fam == "" {
		return keys
	}
	ph := ColognePhonetic(fam)
	for p := range postals {
		keys = append(keys, "pf:"+p+"|"+ph)
	}
	given := foldName(c.GivenName)
	if given == "" {
		if f := strings.Fields(foldName(c.FullName)); len(f) > 1 {
			given = f[0]
		}
	}
	if given != "" {
		// Name alone: such pairs can reach review, never merge by themselves.
		keys = append(keys, "nm:"+ph+"|"+given[:1])
		for _, e := range c.Emails {
			if _, dom, ok := strings.Cut(NormalizeEmail(e), "@"); ok {
				keys = append(keys, "ed:"+dom+"|"+given[:1]+fam[:1])
			}
		}
	}
	return keys
}

var jw = metrics.NewJaroWinkler()

func init() { jw.CaseSensitive = false }

func similarity(a, b string) float64 {
	if a == "" || b == "" {
		return 0
	}
	if a == b {
		return 1
	}
	s := strutil.Similarity(a, b, jw)
	// Word order differs between systems ("Schmidt Anna"): compare sorted words too.
	if sa, sb := sortWords(a), sortWords(b); sa != a || sb != b {
		s = max(s, strutil.Similarity(sa, sb, jw))
	}
	return s
}

func sortWords(s string) string {
	f := strings.Fields(s)
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j] < f[j-1]; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
	return strings.Join(f, " ")
}

// Score compares two records of the same kind and says how likely they are
// the same customer (0..1), and whether the score may auto-merge (false
// when only the name could be compared).
func (f *FuzzyConfig) Score(a, b hub.Customer) (score float64, mergeable bool) {
	var name float64
	nameOK := true
	if a.Kind == "organization" {
		name = similarity(orgStem(a.OrganizationName), orgStem(b.OrganizationName))
	} else {
		name, nameOK = personNameScore(a, b)
	}
	if len(a.Addresses) == 0 || len(b.Addresses) == 0 {
		return name, false
	}
	var addr float64
	sameHouse := false
	for _, x := range a.Addresses {
		for _, y := range b.Addresses {
			s := 0.6 * similarity(normStreet(x.Street), normStreet(y.Street))
			// Different house numbers are different addresses, however
			// alike the street names ("Bergstr 154" / "Goethestr 172"):
			// such a pair may reach review, never merge on its own.
			hx, hy := houseNumber(x.Street), houseNumber(y.Street)
			same := hx == "" || hy == "" || hx == hy
			if x.PostalCode != "" && strings.EqualFold(strings.ReplaceAll(x.PostalCode, " ", ""), strings.ReplaceAll(y.PostalCode, " ", "")) {
				s += 0.4
			}
			if s > addr || s == addr && same {
				addr, sameHouse = s, same
			}
		}
	}
	if !sameHouse {
		nameOK = false
	}
	if a.Kind != "organization" && (givenName(a) == "" || givenName(b) == "") && addr < 0.99 {
		// A family name confirmed by an e-mail merges only at the same
		// street and house number: michael.walter95@… fits every Michael
		// Walter in the postal code.
		nameOK = false
	}
	return (f.NameWeight*name + f.AddressWeight*addr) / (f.NameWeight + f.AddressWeight), nameOK
}

// givenName is the folded given name of a person, or the first of several
// words of the full name; "" when the record has none (an ERP row with an
// empty first-name column).
func givenName(c hub.Customer) string {
	if c.GivenName != "" {
		return foldName(c.GivenName)
	}
	if c.FamilyName != "" {
		return ""
	}
	if f := strings.Fields(foldName(c.FullName)); len(f) > 1 {
		return f[0]
	}
	return ""
}

// personNameScore compares two persons' names (0..1). ok is false when the
// names alone cannot carry a merge: one or both records lack a given name
// and no e-mail address of the given-less record spells the other's given
// and family name (hans.mueller@… confirms "Hans" for a record that only
// says "Müller"). A shared family name at one address is otherwise as
// likely a relative as the same person.
func personNameScore(a, b hub.Customer) (score float64, ok bool) {
	ga, gb := givenName(a), givenName(b)
	switch {
	case ga != "" && gb != "":
		return similarity(personName(a), personName(b)), true
	case ga == "" && gb == "":
		return similarity(familyName(a), familyName(b)), false
	case ga == "":
		return similarity(familyName(a), familyName(b)), emailsSpellName(a.Emails, gb, familyName(b))
	default:
		return similarity(familyName(a), familyName(b)), emailsSpellName(b.Emails, ga, familyName(a))
	}
}

// emailsSpellName reports whether one of the addresses' local parts is
// made of the folded given and family name, in either order, with or
// without a separator (. _ -) and with an optional number appended:
// hans.mueller, mueller_hans, hansmueller75. An initial alone (h.mueller)
// does not count: it fits every relative with that initial.
func emailsSpellName(emails []string, given, family string) bool {
	given, family = strings.ReplaceAll(given, " ", ""), strings.ReplaceAll(family, " ", "")
	if given == "" || family == "" {
		return false
	}
	for _, e := range emails {
		local, _, ok := strings.Cut(NormalizeEmail(e), "@")
		if !ok {
			continue
		}
		local = strings.TrimRight(fold.Replace(local), "0123456789")
		var b strings.Builder
		for _, r := range local {
			if r != '.' && r != '_' && r != '-' && r != ' ' {
				b.WriteRune(r)
			}
		}
		if l := b.String(); l == given+family || l == family+given {
			return true
		}
	}
	return false
}

// ColognePhonetic encodes a (German) name by sound (Kölner Phonetik), so
// Meier, Meyer and Maier share a code.
func ColognePhonetic(s string) string {
	s = strings.ToUpper(fold.Replace(strings.ToLower(s)))
	var letters []byte
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			letters = append(letters, c)
		}
	}
	in := func(c byte, set string) bool { return c != 0 && strings.IndexByte(set, c) >= 0 }
	var codes []byte
	for i, c := range letters {
		var prev, next byte
		if i > 0 {
			prev = letters[i-1]
		}
		if i+1 < len(letters) {
			next = letters[i+1]
		}
		var code string
		switch {
		case in(c, "AEIJOUY"):
			code = "0"
		case c == 'H':
			code = ""
		case c == 'B':
			code = "1"
		case c == 'P':
			if next == 'H' {
				code = "3"
			} else {
				code = "1"
			}
		case in(c, "DT"):
			if in(next, "CSZ") {
				code = "8"
			} else {
				code = "2"
			}
		case in(c, "FVW"):
			code = "3"
		case in(c, "GKQ"):
			code = "4"
		case c == 'C':
			switch {
			case i == 0 && in(next, "AHKLOQRUX"):
				code = "4"
			case i > 0 && in(next, "AHKOQUX") && !in(prev, "SZ"):
				code = "4"
			default:
				code = "8"
			}
		case c == 'X':
			if in(prev, "CKQ") {
				code = "8"
			} else {
				code = "48"
			}
		case c == 'L':
			code = "5"
		case in(c, "MN"):
			code = "6"
		case c == 'R':
			code = "7"
		case in(c, "SZ"):
			code = "8"
		}
		codes = append(codes, code...)
	}
	var out []byte
	for i, c := range codes {
		if i > 0 && c == codes[i-1] {
			continue
		}
		if c == '0' && len(out) > 0 {
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// Link is a scored pair of records that share a blocking key, A < B. Auto
// says the pair merges on its own (score above AutoMerge with more than
// the name to go on); other links are review candidates.
type Link struct {
	A, B  string
	Score float64
	Auto  bool
}

// ScorePair scores two records; ok is false when fuzzy matching is off,
// the kinds differ, or the score is below the review threshold.
func (r *Resolver) ScorePair(a, b Record) (Link, bool) {
	f := r.cfg.Fuzzy
	if f == nil || a.Customer.Kind != b.Customer.Kind || a.Key() == b.Key() {
		return Link{}, false
	}
	if b.Key() < a.Key() {
		a, b = b, a
	}
	s, mergeable := f.Score(a.Customer, b.Customer)
	if s < f.Review {
		return Link{}, false
	}
	s = round3(s)
	return Link{A: a.Key(), B: b.Key(), Score: s, Auto: mergeable && s >= f.AutoMerge}, true
}

// BlockingKeys returns the record's blocking keys (a subset of MatchKeys).
func (r *Resolver) BlockingKeys(rec Record) []string {
	var out []string
	for _, k := range r.MatchKeys(rec) {
		if keyClass(k) == ClassBlock {
			out = append(out, k)
		}
	}
	return out
}

// MaxBlock is the configured block size cap, 0 when fuzzy matching is off.
func (r *Resolver) MaxBlock() int {
	if r.cfg.Fuzzy == nil {
		return 0
	}
	return r.cfg.Fuzzy.MaxBlock
}

// Links scores every pair of records sharing a blocking key, skipping
// blocks larger than MaxBlock.
func (r *Resolver) Links(recs []Record) []Link {
	if r.cfg.Fuzzy == nil {
		return nil
	}
	byKey := map[string][]int{}
	for i, rec := range recs {
		for _, k := range r.BlockingKeys(rec) {
			byKey[k] = append(byKey[k], i)
		}
	}
	seen := map[[2]string]bool{}
	var out []Link
	for _, idx := range byKey {
		if len(idx) > r.cfg.Fuzzy.MaxBlock {
			continue
		}
		for x := 0; x < len(idx); x++ {
			for y := x + 1; y < len(idx); y++ {
				l, ok := r.ScorePair(recs[idx[x]], recs[idx[y]])
				if ok && !seen[[2]string{l.A, l.B}] {
					seen[[2]string{l.A, l.B}] = true
					out = append(out, l)
				}
			}
		}
	}
	return out
}

// houseNumber returns the last word of a street line if it starts with a
// digit ("12a"), lower-cased; "" when there is none.
func houseNumber(street string) string {
	f := strings.Fields(strings.ToLower(street))
	if len(f) == 0 || f[len(f)-1][0] < '0' || f[len(f)-1][0] > '9' {
		return ""
	}
	return f[len(f)-1]
}
