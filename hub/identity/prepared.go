package identity

import (
	"strings"

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
	birth         string // trimmed
	addrs         []place
	emails        []string    // normalized, the empty ones left out
	mailboxes     [][2]string // local part and domain of the e-mails with an @
	phones        []string    // E.164, the unreadable ones left out
	gender        string      // lower-case, trimmed
	ids           map[string][]string
}

// preparePerson prepares c's comparisons of the person model; region reads
// its phone numbers, taxIsEvidence says whether its tax id is an
// identifier.
func preparePerson(c hub.Customer, region string, taxIsEvidence bool) *person {
	p := &person{c: c, region: region, taxIsEvidence: taxIsEvidence,
		given: newName(givenName(c)), family: newName(familyName(c)),
		birth: strings.TrimSpace(c.BirthDate), gender: strings.ToLower(strings.TrimSpace(c.Gender)),
		emails: normEmails(c.Emails), mailboxes: mailboxes(c.Emails), phones: normPhones(c.Phones, region),
		ids: personIDs(c, taxIsEvidence)}
	if len(c.Addresses) > 0 {
		p.addrs = make([]place, len(c.Addresses))
		for i, a := range c.Addresses {
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
}

func newName(folded string) name {
	return name{s: folded, sorted: sortWords(folded), joined: strings.ReplaceAll(folded, " ", ""), refold: foldName(folded)}
}

// place is an address with its parts as addressPair compares them.
type place struct {
	postcode string // NormalizePostcode
	city     string // foldName
	noStreet bool   // neither street line has text
	lines    string // streetLines
	multi    bool   // lines has more than one line
	parsed   StreetLine
	// names are the street names of every line (streetNames), buildings
	// the building or property names of the lines without a house number
	// (buildingName).
	names, buildings []string
}

func newPlace(a hub.Address) place {
	p := place{postcode: NormalizePostcode(a.PostalCode), city: foldName(a.City),
		noStreet: strings.TrimSpace(a.Street+a.Street2) == "", lines: streetLines(a)}
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
// address with an @.
func mailboxes(emails []string) [][2]string {
	var out [][2]string
	for _, e := range emails {
		if l, d, ok := strings.Cut(NormalizeEmail(e), "@"); ok {
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
