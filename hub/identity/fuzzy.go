package identity

import (
	"math"
	"slices"
	"strings"

	"github.com/adrg/strutil"
	"github.com/adrg/strutil/metrics"

	"github.com/crmhub/crmhub/hub"
)

// ClassBlock is the class of blocking keys: records sharing one are
// compared by the fuzzy scorer, never merged by the key itself.
const ClassBlock = "blk"

// FuzzyConfig turns on fuzzy matching: records sharing a blocking key
// (postal code + phonetic family name or organization name stem, e-mail
// domain + phonetic name, phone number prefix + phonetic family name) are
// scored by the similarity of their names and of the evidence that
// corroborates them; above AutoMerge they merge, between Review and
// AutoMerge the pair goes to the review queue.
//
// The corroborating evidence is the address when both records have one;
// otherwise an e-mail address or phone number the two records nearly share:
// one letter of the e-mail's local part or one digit of the number
// dropped, added, changed or swapped with its neighbour, as people mistype
// them (an exact one is a match key and merges by itself, but for persons
// under the Fellegi-Sunter model, which weighs it). A pair with
// nothing but a name scores NameWeight at most, below any sensible Review
// threshold: namesakes are too common for a name to go on.
type FuzzyConfig struct {
	AutoMerge float64 // default 0.93
	Review    float64 // default 0.85
	// NameWeight and AddressWeight combine the comparators; defaults 0.65
	// and 0.35. AddressWeight weighs the corroborating evidence: the
	// address, or a nearly shared e-mail or phone number.
	NameWeight, AddressWeight float64
	// MaxBlock skips blocks with more records than this (a very common
	// name in one postal code says little). Default 50.
	MaxBlock int
	// Method scores persons: MethodFellegiSunter (the default) with the
	// model People, or MethodWeighted with the weights above.
	// Organizations are always scored by the weights.
	Method string
	// People is the Fellegi-Sunter model for persons; nil takes
	// DefaultParams. Its own thresholds (on the match probability) apply.
	People *Params
	// IDs weighs person identifiers (national id, passport, a person's
	// tax id where it does not veto) as evidence; zero fields take the
	// defaults.
	IDs IDWeights
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
	f.IDs.defaults()
	if f.Method == "" {
		f.Method = MethodFellegiSunter
	}
	if f.People == nil {
		f.People = DefaultParams()
	}
}

// The scoring methods for persons.
const (
	MethodFellegiSunter = "fellegi_sunter"
	MethodWeighted      = "weighted"
)

// probabilistic reports whether records of kind are scored by the
// Fellegi-Sunter model: their score is a match probability that has
// weighed the addresses already.
func (f *FuzzyConfig) probabilistic(kind string) bool {
	return kind != "organization" && f.Method == MethodFellegiSunter
}

// thresholds are the review and auto-merge thresholds for kind.
func (f *FuzzyConfig) thresholds(kind string) (review, auto float64) {
	if f.probabilistic(kind) {
		return f.People.Review, f.People.AutoMerge
	}
	return f.Review, f.AutoMerge
}

var fold = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", "é", "e", "è", "e", "á", "a", "à", "a",
	"ó", "o", "ñ", "n", "ç", "c", "-", " ", ".", " ", ",", " ", "'", "", "&", " ",
	// The other accents of French, Spanish, Portuguese and the Nordic
	// languages, which one system keeps and another drops (Jérôme and
	// Jerome, Bât. and Bat., Noël and Noel, Fenêtre and Fenetre).
	"â", "a", "ê", "e", "î", "i", "ô", "o", "û", "u", "ë", "e", "ï", "i", "ÿ", "y", "í", "i", "ú", "u", "ì", "i",
	"ò", "o", "ù", "u", "ã", "a", "õ", "o", "å", "a", "ø", "o", "æ", "ae", "œ", "oe")

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

// streetWords abbreviates whole street-type words of English and French
// addresses as their postal services do ("40 Dock Road" = "40 Dock Rd").
var streetWords = map[string]string{"road": "rd", "street": "st", "avenue": "ave", "av": "ave", "place": "pl",
	"drive": "dr", "lane": "ln", "court": "ct", "crescent": "cres", "terrace": "tce", "parade": "pde",
	"highway": "hwy", "boulevard": "bd", "blvd": "bd", "square": "sq", "close": "cl", "rue": "r", "allee": "all"}

func normStreet(s string) string {
	s = strings.ToLower(s)
	s = streetAbbr.Replace(s)
	f := strings.Fields(foldName(s))
	for i, w := range f {
		if a, ok := streetWords[w]; ok {
			f[i] = a
		}
	}
	return strings.Join(f, " ")
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
	// A full name that is the given name alone says nothing of the family
	// name: a mapping that joins given and family name into full_name
	// writes "Jeana" where the family name is missing, and reading that as
	// the family name put a person against herself as "another family".
	if len(f) == 1 && c.GivenName != "" && f[0] == foldName(c.GivenName) {
		return ""
	}
	return f[len(f)-1]
}

// blockKeys returns the blocking keys of a record, without kind prefix.
// Each pairs records that may hold corroborating evidence for each other
// (see FuzzyConfig), so blocks stay small however common a name is: the
// same postal code, the same e-mail domain or the same phone number prefix,
// each with the (phonetic) name.
func blockKeys(c hub.Customer, region string, taxIsEvidence bool) []string {
	c.Addresses = matchAddresses(c)
	var keys []string
	postals := map[string]bool{}
	for _, a := range c.Addresses {
		// The postal code alone, without the country: one system leaves
		// the country empty where another fills it, and the scorer
		// compares the street anyway.
		if p := NormalizePostcode(a.PostalCode); p != "" {
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
	keys = append(keys, idBlockKeys(c, taxIsEvidence)...)
	keys = append(keys, personBlockKeys(c)...)
	fam := familyName(c)
	if fam == "" {
		return keys
	}
	ph := ColognePhonetic(fam)
	for p := range postals {
		keys = append(keys, "pf:"+p+"|"+ph)
	}
	given := givenName(c)
	for _, p := range c.Phones {
		// A mistyped digit near the end keeps the prefix; with the family
		// name, or the given name's initial where the family name is the
		// mistyped one.
		if n, err := NormalizePhone(p, region); err == nil && len(n) > phoneTail+4 {
			keys = append(keys, "pp:"+n[:len(n)-phoneTail]+"|"+ph)
			if given != "" {
				keys = append(keys, "pg:"+n[:len(n)-phoneTail]+"|"+given[:1])
			}
		}
	}
	// A mistyped e-mail confirms only the very same name (nearEmail). A
	// record without a given name takes the initial its address spells
	// (anna.stein@… for Stein).
	for _, e := range c.Emails {
		local, dom, ok := strings.Cut(NormalizeEmail(e), "@")
		if !ok {
			continue
		}
		g := given
		if g == "" {
			g = spelledGiven(local, fam)
		}
		if g != "" {
			keys = append(keys, "ed:"+dom+"|"+ph+"|"+g[:1])
		}
	}
	return keys
}

// spelledGiven returns the word beside the family name in an e-mail's
// local part (anna.stein, stein_anna, annastein75 for "stein"), "" when
// the local part is not made of the family name and one other word.
func spelledGiven(local, family string) string {
	family = strings.ReplaceAll(family, " ", "")
	local = strings.TrimRight(fold.Replace(local), "0123456789")
	var b strings.Builder
	for _, r := range local {
		if r != '.' && r != '_' && r != '-' && r != ' ' {
			b.WriteRune(r)
		}
	}
	l := b.String()
	switch {
	case family == "" || len(l) <= len(family):
		return ""
	case strings.HasSuffix(l, family):
		return l[:len(l)-len(family)]
	case strings.HasPrefix(l, family):
		return l[len(family):]
	}
	return ""
}

// phoneTail is how many final digits the phone blocking key leaves out.
const phoneTail = 5

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
// when the name lacks the corroboration a merge needs). Phones are read
// with region DE where they lack a country code; Resolver.ScorePair uses
// the configured region.
func (f *FuzzyConfig) Score(a, b hub.Customer) (score float64, mergeable bool) {
	return f.score(a, b, "DE", true)
}

// score applies the identifier evidence to the name-and-corroboration
// score (scoreNames).
func (f *FuzzyConfig) score(a, b hub.Customer, region string, taxIsEvidence bool) (score float64, mergeable bool) {
	return f.scorePrepared(f.prepare(a, region, taxIsEvidence), f.prepare(b, region, taxIsEvidence))
}

// scorePrepared is score of records prepared by f.prepare under one region
// and tax id rule.
func (f *FuzzyConfig) scorePrepared(pa, pb *person) (score float64, mergeable bool) {
	a, b, region, taxIsEvidence := pa.c, pb.c, pa.region, pa.taxIsEvidence
	if f.probabilistic(a.Kind) {
		m := f.People.matchPrepared(pa, pb)
		return m.Probability, m.Hold == ""
	}
	s, ok := f.scoreNames(a, b, region)
	if a.Kind == "organization" {
		return s, ok
	}
	switch compareIDs(a, b, taxIsEvidence) {
	case IDEqual:
		// The same national id corroborates what an address or e-mail
		// would: a similar name then merges; a different name goes
		// to review at most.
		name, _ := personNameScore(a, b)
		if e := f.IDs.EqualFloor + (1-f.IDs.EqualFloor)*name; e > s {
			s = e
		}
		ok = true
	case IDNear:
		s -= f.IDs.NearPenalty
	case IDDiffer:
		s -= f.IDs.DifferPenalty
		ok = false
	}
	return max(s, 0), ok
}

func (f *FuzzyConfig) scoreNames(a, b hub.Customer, region string) (score float64, mergeable bool) {
	a.Addresses, b.Addresses = matchAddresses(a), matchAddresses(b)
	var name float64
	nameOK := true
	if a.Kind == "organization" {
		name = similarity(orgStem(a.OrganizationName), orgStem(b.OrganizationName))
	} else {
		name, nameOK = personNameScore(a, b)
	}
	if len(a.Addresses) == 0 || len(b.Addresses) == 0 {
		// No address to compare: only a nearly shared e-mail or phone
		// number corroborates the name.
		var ev float64
		switch {
		case nearEmail(a.Emails, b.Emails):
			ev = 1
			// hans.meier@… and hans.meyer@… are one letter apart and
			// belong to Hans Meier and Hans Meyer: a mistyped address
			// confirms only the very same name (a missing given name
			// spelled by the other address, as personNameScore checks);
			// a similar one goes to review.
			if ga, gb := givenName(a), givenName(b); a.Kind != "organization" &&
				(familyName(a) != familyName(b) || ga != "" && gb != "" && ga != gb) {
				nameOK = false
			}
		case nearPhone(a.Phones, b.Phones, region):
			ev = 1
			// Numbers one digit apart also belong to strangers where
			// numbers are short (a six-digit town): the given names must
			// agree and the family names be alike (a mistyped one, at
			// most).
			if ga, gb := givenName(a), givenName(b); a.Kind != "organization" &&
				(ga != "" && gb != "" && ga != gb || similarity(familyName(a), familyName(b)) < 0.9) {
				nameOK = false
			}
		default:
			nameOK = false
		}
		return (f.NameWeight*name + f.AddressWeight*ev) / (f.NameWeight + f.AddressWeight), nameOK
	}
	var addr float64
	sameHouse := false
	for _, x := range a.Addresses {
		for _, y := range b.Addresses {
			// Parsed, so "40 Dock Road" and "Dock Rd 40" are one line.
			px, py := ParseStreetLine(streetLines(x)), ParseStreetLine(streetLines(y))
			s := 0.6 * similarity(strings.TrimSpace(px.Street+" "+px.Number), strings.TrimSpace(py.Street+" "+py.Number))
			// Different house numbers are different addresses, however
			// alike the street names ("Bergstr 154" / "Goethestr 172",
			// "0 Dock Road" / "40 Dock Road"); so are different units of
			// one building: such a pair may reach review, never merge on
			// its own.
			same := (px.Number == "" || py.Number == "" || px.Number == py.Number) &&
				(px.Unit == "" || py.Unit == "" || px.Unit == py.Unit)
			if px := NormalizePostcode(x.PostalCode); px != "" && px == NormalizePostcode(y.PostalCode) {
				s += 0.4
			}
			if s > addr || s == addr && same {
				addr, sameHouse = s, same
			}
		}
	}
	if !sameHouse || addr < 0.9 {
		nameOK = false
		// Another address in the same town is worth a steward's look only
		// under the very same name (moved?); Laura and Lukas Brandt in
		// one postal code are two people.
		if !sameName(a, b) {
			return 0, false
		}
	}
	if a.Kind != "organization" && (givenName(a) == "" || givenName(b) == "") && addr < 0.99 {
		// A family name confirmed by an e-mail merges only at the same
		// street and house number: michael.walter95@… fits every Michael
		// Walter in the postal code.
		nameOK = false
	}
	return (f.NameWeight*name + f.AddressWeight*addr) / (f.NameWeight + f.AddressWeight), nameOK
}

// sameName reports whether two records carry the very same name, folded:
// the organization name without legal form, or a person's given and
// family name (both present).
func sameName(a, b hub.Customer) bool {
	if a.Kind == "organization" {
		return orgStem(a.OrganizationName) == orgStem(b.OrganizationName)
	}
	return givenName(a) != "" && givenName(b) != "" && personName(a) == personName(b)
}

// nearEmail reports whether an address of a and one of b differ by one
// mistyped letter of the local part: a letter dropped, added, changed or
// swapped with its neighbour, the domain the same. Digits and separators
// must agree: hans.mueller@…, hansmueller@… and hans.mueller2@… are how
// namesakes' addresses differ, not typos.
func nearEmail(a, b []string) bool {
	return nearMailboxes(mailboxes(normEmails(a)), mailboxes(normEmails(b)))
}

// nearMailboxes is nearEmail of the addresses' local parts and domains
// (mailboxes).
func nearMailboxes(a, b [][2]string) bool {
	for _, x := range a {
		for _, y := range b {
			if x[1] == y[1] && oneEditApart(x[0], y[0], isLetter) {
				return true
			}
		}
	}
	return false
}

// nearPhone reports whether a number of a and one of b, in E.164, differ
// by one mistyped digit: one changed, or two neighbours swapped.
func nearPhone(a, b []string, region string) bool {
	return nearPhones(normPhones(a, region), normPhones(b, region))
}

// nearPhones is nearPhone of numbers in E.164 (normPhones).
func nearPhones(a, b []string) bool {
	for _, nx := range a {
		for _, ny := range b {
			if len(nx) == len(ny) && oneEditApart(nx, ny, isDigit) {
				return true
			}
		}
	}
	return false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// oneEditApart reports whether x and y differ by exactly one edit of
// characters ok accepts: one dropped or added, one changed, or two
// neighbours swapped (optimal string alignment distance 1).
func oneEditApart(x, y string, ok func(byte) bool) bool {
	if x == y {
		return false
	}
	if len(x) > len(y) {
		x, y = y, x
	}
	i := 0
	for i < len(x) && x[i] == y[i] {
		i++
	}
	switch len(y) - len(x) {
	case 0:
		if x[i+1:] == y[i+1:] { // changed
			return ok(x[i]) && ok(y[i])
		}
		// swapped with the next
		return i+1 < len(x) && x[i] == y[i+1] && x[i+1] == y[i] && x[i+2:] == y[i+2:] && ok(x[i]) && ok(x[i+1])
	case 1: // y has one more: skip it (equal runs make any of them the one)
		return x[i:] == y[i+1:] && ok(y[i])
	}
	return false
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
	return r.scorePrepared(a, b, r.prepare(a), r.prepare(b))
}

// scorePrepared is ScorePair of records prepared by r.prepare: a batch
// that compares a record with many others prepares it once.
func (r *Resolver) scorePrepared(a, b Record, pa, pb *person) (Link, bool) {
	f := r.cfg.Fuzzy
	if f == nil || a.Customer.Kind != b.Customer.Kind || a.Key() == b.Key() {
		return Link{}, false
	}
	if b.Key() < a.Key() {
		a, b, pa, pb = b, a, pb, pa
	}
	s, mergeable := f.scorePrepared(pa, pb)
	review, auto := f.thresholds(a.Customer.Kind)
	if s < review {
		return Link{}, false
	}
	s = f.linkScore(a.Customer.Kind, s)
	return Link{A: a.Key(), B: b.Key(), Score: s, Auto: mergeable && s >= auto}, true
}

// linkScore is the score a link stores: a match probability to four
// places (the auto-merge threshold sits near 1), a weighted score to three.
func (f *FuzzyConfig) linkScore(kind string, s float64) float64 {
	if f.probabilistic(kind) {
		return math.Floor(s*10000) / 10000
	}
	return round3(s)
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

// ShareBlock reports whether two records share a blocking key, that is
// whether fuzzy matching ever compares them (block size caps aside).
func (r *Resolver) ShareBlock(a, b Record) bool {
	ka := r.BlockingKeys(a)
	for _, k := range r.BlockingKeys(b) {
		if slices.Contains(ka, k) {
			return true
		}
	}
	return false
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
	seen := map[[2]string]bool{}
	var out []Link
	prepared := r.preparedSet(recs)
	for _, idx := range r.blocks(recs) {
		for x := 0; x < len(idx); x++ {
			for y := x + 1; y < len(idx); y++ {
				l, ok := r.scorePrepared(recs[idx[x]], recs[idx[y]], prepared(idx[x]), prepared(idx[y]))
				if ok && !seen[[2]string{l.A, l.B}] {
					seen[[2]string{l.A, l.B}] = true
					out = append(out, l)
				}
			}
		}
	}
	return out
}

// blocks groups recs (by index) by blocking key, leaving out the blocks
// larger than MaxBlock.
func (r *Resolver) blocks(recs []Record) map[string][]int {
	byKey := map[string][]int{}
	for i, rec := range recs {
		for _, k := range r.BlockingKeys(rec) {
			byKey[k] = append(byKey[k], i)
		}
	}
	for k, idx := range byKey {
		if len(idx) > r.MaxBlock() {
			delete(byKey, k)
		}
	}
	return byKey
}

// houseNumber returns the house number of a street line, before or
// after the street, lower-cased; "" when there is none.
func houseNumber(street string) string { return ParseStreetLine(street).Number }
