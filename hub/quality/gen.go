package quality

import (
	"fmt"
	"math/rand"
	"strings"

	"github.com/crmhub/crmhub/hub"
)

// Record is one generated source record with its ground truth.
type Record struct {
	Key        string // system/entity/id
	EntityID   string // the true person behind the record
	Corruption string // the kind of corruption applied to this copy ("" for the original)
	Customer   hub.Customer
}

type locale struct {
	country  string
	given    []string
	family   []string
	streets  []string
	cities   []string
	street   func(r *rand.Rand, name string) string
	postcode func(r *rand.Rand) string
	// otherForm is the other gender's form of a given name of the list,
	// as parents of boy/girl twins may choose it (Johann and Johanna):
	// pairs in use in that country, written from general knowledge.
	otherForm map[string]string
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.Intn(10))
	}
	return string(b)
}

var locales = []locale{
	{country: "DE", given: []string{"Johann", "Katharina", "Stefan", "Anna", "Jürgen", "Monika", "Thomas", "Sabine"},
		family:  []string{"Meier", "Schmidt", "Müller", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann"},
		streets: []string{"Haupt", "Bahnhof", "Garten", "Schul", "Linden"}, cities: []string{"Berlin", "Köln", "Hamburg", "Leipzig"},
		street:    func(r *rand.Rand, n string) string { return fmt.Sprintf("%sstr. %d", n, 1+r.Intn(120)) },
		postcode:  func(r *rand.Rand) string { return digits(r, 5) },
		otherForm: map[string]string{"Johann": "Johanna", "Stefan": "Stefanie"}},
	{country: "GB", given: []string{"Robert", "Margaret", "William", "Elizabeth", "James", "Catherine", "Richard", "Susan"},
		family:  []string{"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies"},
		streets: []string{"Dock", "Church", "Station", "Mill", "Victoria"}, cities: []string{"London", "Leeds", "Bristol", "York"},
		street: func(r *rand.Rand, n string) string { return fmt.Sprintf("%d %s Road", 1+r.Intn(200), n) },
		postcode: func(r *rand.Rand) string {
			return fmt.Sprintf("%c%c%d %d%c%c", 'A'+r.Intn(26), 'A'+r.Intn(26), 1+r.Intn(9), r.Intn(10), 'A'+r.Intn(26), 'A'+r.Intn(26))
		},
		otherForm: map[string]string{"Robert": "Roberta"}},
	{country: "US", given: []string{"Robert", "Margaret", "Michael", "Jennifer", "David", "Katherine", "Christopher", "Linda"},
		family:  []string{"Miller", "Garcia", "Martinez", "Anderson", "Thompson", "White", "Harris", "Clark"},
		streets: []string{"Oak", "Maple", "Pine", "Cedar", "Elm"}, cities: []string{"Springfield", "Austin", "Denver", "Portland"},
		street:    func(r *rand.Rand, n string) string { return fmt.Sprintf("%d %s St", 100+r.Intn(9000), n) },
		postcode:  func(r *rand.Rand) string { return digits(r, 5) },
		otherForm: map[string]string{"Michael": "Michelle", "Robert": "Roberta"}},
	{country: "FR", given: []string{"Jean", "Marie", "Pierre", "Camille", "Nicolas", "Isabelle", "Philippe", "Nathalie"},
		family:  []string{"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"},
		streets: []string{"de la Paix", "Victor Hugo", "des Lilas", "du Moulin"}, cities: []string{"Paris", "Lyon", "Lille", "Nantes"},
		street:    func(r *rand.Rand, n string) string { return fmt.Sprintf("%d rue %s", 1+r.Intn(90), n) },
		postcode:  func(r *rand.Rand) string { return digits(r, 5) },
		otherForm: map[string]string{"Jean": "Jeanne", "Nicolas": "Nicole", "Philippe": "Philippine", "Pierre": "Pierrette"}},
	{country: "AU", given: []string{"Jack", "Olivia", "Liam", "Charlotte", "Noah", "Peggy", "Oliver", "Mia"},
		family:  []string{"Nguyen", "Smith", "Kelly", "Ryan", "Walsh", "Murphy", "King", "Lee"},
		streets: []string{"George", "King", "Queen", "Beach", "Park"}, cities: []string{"Sydney", "Perth", "Hobart", "Cairns"},
		street:    func(r *rand.Rand, n string) string { return fmt.Sprintf("%d %s Street", 1+r.Intn(300), n) },
		postcode:  func(r *rand.Rand) string { return digits(r, 4) },
		otherForm: map[string]string{"Olivia": "Oliver", "Oliver": "Olivia", "Charlotte": "Charles"}},
}

// Keyboard neighbours on a QWERTY layout: a slipped finger hits one of these.
var qwerty = map[rune]string{
	'q': "wa", 'w': "qes", 'e': "wrd", 'r': "etf", 't': "ryg", 'y': "tuh", 'u': "yij", 'i': "uok", 'o': "ipl", 'p': "ol",
	'a': "qsz", 's': "adw", 'd': "sfe", 'f': "dgr", 'g': "fht", 'h': "gjy", 'j': "hku", 'k': "jli", 'l': "ko",
	'z': "xa", 'x': "zc", 'c': "xv", 'v': "cb", 'b': "vn", 'n': "bm", 'm': "n",
}

// Spelling variants people really use for one spoken name.
var phonetic = [][2]string{{"Meier", "Mayer"}, {"Meier", "Maier"}, {"Schmidt", "Schmitt"}, {"Catherine", "Katherine"},
	{"Katharina", "Catharina"}, {"Philippe", "Phillipe"}, {"Davies", "Davis"}, {"Thompson", "Thomson"}}

var nicknames = map[string]string{"Robert": "Bob", "Margaret": "Peggy", "Johann": "Hans", "William": "Bill",
	"Elizabeth": "Liz", "James": "Jim", "Richard": "Dick", "Michael": "Mike", "Katherine": "Kate", "Christopher": "Chris",
	"Thomas": "Tom", "David": "Dave", "Susan": "Sue", "Jennifer": "Jen", "Stefan": "Steffen"}

// OCR confusions: a scanned form reads these glyphs as each other.
var ocr = [][2]string{{"m", "rn"}, {"rn", "m"}, {"l", "1"}, {"O", "0"}, {"o", "0"}, {"i", "l"}}

// Corruption kinds, in the order Generate tries them.
var Corruptions = []string{"typo", "transposition", "ocr", "phonetic", "nickname", "swapped_names",
	"missing_values", "moved", "postcode_digit", "birth_swap", "married_name"}

func keyboardTypo(r *rand.Rand, s string) string {
	rs := []rune(s)
	for tries := 0; tries < 8 && len(rs) > 0; tries++ {
		i := r.Intn(len(rs))
		if n, ok := qwerty[rs[i]]; ok {
			rs[i] = rune(n[r.Intn(len(n))])
			return string(rs)
		}
	}
	return s
}

func transpose(r *rand.Rand, s string) string {
	rs := []rune(s)
	if len(rs) < 3 {
		return s
	}
	i := 1 + r.Intn(len(rs)-2)
	rs[i], rs[i+1] = rs[i+1], rs[i]
	return string(rs)
}

// Generate makes n people with 1-3 records each, deterministically per seed.
// withContact adds e-mail and phone; withIDs adds a national identifier that
// is mistyped in 5% of copies.
func Generate(n int, seed int64, withContact, withIDs bool) []Record {
	return GenerateWith(n, seed, Options{Contact: withContact, IDs: withIDs})
}

// Options shape a generated population.
type Options struct {
	Contact, IDs bool
	// Households is the share of people who live with a relative: the
	// next person shares the family name and the address, with another
	// given name and birth date (a spouse, a grown child), the classic
	// false merge.
	Households float64
	// TwoErrors is the share of copies with a second corruption of
	// another kind on top of the first (recorded as "two_errors").
	TwoErrors float64
	// Twins is the share of those relatives born the same day as the
	// person they live with: everything but the given name agrees.
	Twins float64
}

// TwoErrors is the corruption recorded for a copy with two.
const TwoErrors = "two_errors"

// Kinds are the corruptions recall is reported for.
var Kinds = append(append([]string(nil), Corruptions...), TwoErrors)

// GenerateWith makes n people as Generate does, shaped by opt.
func GenerateWith(n int, seed int64, opt Options) []Record {
	withContact, withIDs := opt.Contact, opt.IDs
	r := rand.New(rand.NewSource(seed))
	var out []Record
	seq := 0
	emails := map[string]bool{}
	var household *hub.Customer // the previous person, when the next lives with them
	var householdLoc locale
	var twinNames map[string]bool // the given names of the twins born so far to one household
	for p := 0; p < n; p++ {
		loc := locales[r.Intn(len(locales))]
		given := loc.given[r.Intn(len(loc.given))]
		family := loc.family[r.Intn(len(loc.family))]
		birth := fmt.Sprintf("%04d-%02d-%02d", 1940+r.Intn(65), 1+r.Intn(12), 1+r.Intn(28))
		addr := []hub.Address{{Street: loc.street(r, loc.streets[r.Intn(len(loc.streets))]),
			PostalCode: loc.postcode(r), City: loc.cities[r.Intn(len(loc.cities))], Country: loc.country}}
		if household != nil {
			loc, family, addr = householdLoc, household.FamilyName, append([]hub.Address(nil), household.Addresses...)
			for given == household.GivenName {
				given = loc.given[r.Intn(len(loc.given))]
			}
			if opt.Twins > 0 && r.Float64() < opt.Twins {
				// Twins (triplets) get names of their parents'
				// language, never one name twice, sometimes the other
				// gender's form of their sibling's.
				if twinNames == nil || household.BirthDate != birth && !twinNames[household.GivenName] {
					twinNames = map[string]bool{household.GivenName: true}
				}
				birth = household.BirthDate
				for given = loc.given[r.Intn(len(loc.given))]; twinNames[given]; {
					given = loc.given[r.Intn(len(loc.given))]
				}
				// A boy and a girl are often given the two forms of one
				// name: half the time where the name has one.
				if f, ok := loc.otherForm[household.GivenName]; ok && !twinNames[f] && r.Float64() < 0.5 {
					given = f
				}
				twinNames[given] = true
			} else {
				twinNames = nil
			}
			household = nil
		} else {
			twinNames = nil
		}
		base := hub.Customer{Kind: "person", GivenName: given, FamilyName: family, BirthDate: birth, Addresses: addr}
		if opt.Households > 0 && r.Float64() < opt.Households {
			household, householdLoc = &base, loc
		}
		if withContact {
			// A mailbox has one owner: a taken address is drawn again,
			// as a mail provider refuses it (namesakes sharing one
			// made the e-mail key merge different people).
			email := ""
			for email == "" || emails[email] {
				email = fmt.Sprintf("%s.%s%d@example.org", strings.ToLower(given), strings.ToLower(family), r.Intn(100))
				if emails[email] {
					email = fmt.Sprintf("%s.%s%d@example.org", strings.ToLower(given), strings.ToLower(family), 100+r.Intn(9900))
				}
			}
			emails[email] = true
			base.Emails = []string{email}
			base.Phones = []string{fmt.Sprintf("+49%s", digits(r, 10))}
		}
		if withIDs {
			base.Identifiers = []hub.PersonID{{Scheme: "national_id", Value: digits(r, 11), Country: loc.country}}
		}
		copies := 1 + r.Intn(3)
		for c := 0; c < copies; c++ {
			seq++
			cust := clone(base)
			kind := ""
			if c > 0 {
				kind = Corruptions[r.Intn(len(Corruptions))]
				corrupt(r, &cust, kind, loc)
				if opt.TwoErrors > 0 && r.Float64() < opt.TwoErrors {
					second := kind
					for second == kind {
						second = Corruptions[r.Intn(len(Corruptions))]
					}
					corrupt(r, &cust, second, loc)
					kind = TwoErrors
				}
				if withIDs && r.Float64() < 0.05 {
					cust.Identifiers[0].Value = transpose(r, cust.Identifiers[0].Value)
				}
			}
			out = append(out, Record{Key: fmt.Sprintf("sys%d/customer/%d", c, seq), EntityID: fmt.Sprintf("p%d", p),
				Corruption: kind, Customer: cust})
		}
	}
	return out
}

func clone(c hub.Customer) hub.Customer {
	c.Emails = append([]string(nil), c.Emails...)
	c.Phones = append([]string(nil), c.Phones...)
	c.Addresses = append([]hub.Address(nil), c.Addresses...)
	c.Identifiers = append([]hub.PersonID(nil), c.Identifiers...)
	return c
}

func corrupt(r *rand.Rand, c *hub.Customer, kind string, loc locale) {
	switch kind {
	case "typo":
		c.FamilyName = keyboardTypo(r, c.FamilyName)
	case "transposition":
		c.GivenName = transpose(r, c.GivenName)
	case "ocr":
		for _, o := range ocr {
			if strings.Contains(c.FamilyName, o[0]) {
				c.FamilyName = strings.Replace(c.FamilyName, o[0], o[1], 1)
				return
			}
		}
		c.FamilyName = keyboardTypo(r, c.FamilyName)
	case "phonetic":
		for _, p := range phonetic {
			if c.FamilyName == p[0] {
				c.FamilyName = p[1]
				return
			}
			if c.GivenName == p[0] {
				c.GivenName = p[1]
				return
			}
		}
		c.FamilyName = transpose(r, c.FamilyName)
	case "nickname":
		if n, ok := nicknames[c.GivenName]; ok {
			c.GivenName = n
		}
	case "swapped_names":
		c.GivenName, c.FamilyName = c.FamilyName, c.GivenName
	case "missing_values":
		c.BirthDate, c.Emails, c.Phones = "", nil, nil
	case "moved":
		c.Addresses = []hub.Address{{Street: loc.street(r, loc.streets[r.Intn(len(loc.streets))]),
			PostalCode: loc.postcode(r), City: loc.cities[r.Intn(len(loc.cities))], Country: loc.country}}
	case "postcode_digit":
		c.Addresses[0].PostalCode = postcodeDigit(r, c.Addresses[0].PostalCode)
	case "birth_swap":
		if len(c.BirthDate) == 10 && c.BirthDate[8:10] <= "12" {
			c.BirthDate = c.BirthDate[:5] + c.BirthDate[8:10] + "-" + c.BirthDate[5:7]
		} else if len(c.BirthDate) == 10 {
			c.BirthDate = c.BirthDate[:9] + string('0'+byte(r.Intn(10)))
		}
	case "married_name":
		c.FamilyName = loc.family[r.Intn(len(loc.family))]
		c.Emails = nil
	}
}

// postcodeDigit changes the first digit of a postal code to another.
func postcodeDigit(r *rand.Rand, code string) string {
	pc := []byte(code)
	for i := range pc {
		if pc[i] >= '0' && pc[i] <= '9' {
			pc[i] = byte('0' + (int(pc[i]-'0')+1+r.Intn(9))%10)
			break
		}
	}
	return string(pc)
}
