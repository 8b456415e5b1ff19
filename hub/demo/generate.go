package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the ERP writes Europe/Berlin local time on any machine
)

// Options configure Generate.
type Options struct {
	// Dir receives the systems; earlier demo output in it is replaced.
	Dir string
	// Seed makes the output reproducible: the same seed writes the same files.
	Seed int64
	// People is the number of real customers (firms and private persons),
	// default 300. Firms' employees come on top. 30000 people write about
	// 71k customer records and 154k source records in all (about 3 s of CPU).
	People int
}

// berlin is the ERP's time zone.
var berlin = mustLoc("Europe/Berlin")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// now is the fixed "present" of the generated world, so output depends only
// on the seed.
var now = time.Date(2025, 6, 30, 18, 0, 0, 0, berlin)

// AsOf is the generator's day: the generated systems end on it, so
// figures that depend on the date (customer value) are computed as of it.
func AsOf() time.Time { return now }

// The finance export has two days: most debtors are in the first; some only
// arrive with the second, though invoices of the first day name them.
var financeDays = [2]time.Time{
	time.Date(2025, 6, 29, 0, 0, 0, 0, berlin),
	time.Date(2025, 6, 30, 0, 0, 0, 0, berlin),
}

type phoneNum struct{ country, cc, ndc, sub string }

func (p phoneNum) e164() string { return "+" + p.cc + p.ndc + p.sub }

type entity struct {
	id      string
	kind    byte // 'F' firm, 'P' person, 'E' employee of a firm
	country string
	place   place
	street  string // with house number
	zip     string
	given   string
	family  string
	company string // firms: full legal name
	legal   string // firms: legal form, the tail of company
	domain  string
	vat     string // canonical: upper case, no spaces
	emails  []string
	phones  []phoneNum // [0] landline or switchboard, [1] mobile, [2] second mobile (fuzzy cases)
	lang    string
	fuzzy   bool // its CRM record shares no strong key with its other records, only a mistyped one
	created time.Time

	employer *entity
	recs     []*custRec
	erp      *custRec
}

func (e *entity) phone(i int) (phoneNum, bool) {
	if i < len(e.phones) && e.phones[i].sub != "" {
		return e.phones[i], true
	}
	return phoneNum{}, false
}

func (e *entity) email(i int) string {
	if i < len(e.emails) {
		return e.emails[i]
	}
	return ""
}

// custRec is one customer record in a source system. Field values "" are
// missing (SQL NULL, empty CSV cell, JSON null).
type custRec struct {
	e       *entity
	system  string
	entity  string
	id      string
	f       map[string]string
	keys    []string // strong keys, for the deterministic flag
	updated time.Time
	det     bool
	deleted bool
	broken  bool
	day     int // finance: index into financeDays
}

type order struct {
	no, custno, date, status, currency string
	channel                            string // sales channel (value figures)
	updated                            time.Time
	lines                              []orderLine
}

type orderLine struct {
	no                     int
	sku, desc, qty, priceS string
	category, costS        string // product category; the line's total cost
}

// skuCategory is the product category of a SKU, by its prefix.
var skuCategory = map[string]string{
	"SCH": "fasteners", "DUE": "fasteners", "BOH": "tools", "AKK": "tools", "WIN": "tools", "KAB": "electrical",
	"LED": "electrical", "HAN": "safety", "SIL": "chemicals", "ROH": "plumbing", "PAL": "logistics", "SERV": "services",
	"FRA": "logistics", "MAS": "machines", "OEL": "chemicals",
}

// costShare is the share of the price a category costs the company, in
// percent: the margins the value figures show differ by category.
var costShare = map[string]int64{
	"fasteners": 55, "tools": 68, "electrical": 62, "safety": 50, "chemicals": 58, "plumbing": 65,
	"logistics": 90, "services": 40, "machines": 78,
}

// lineCost is qty x price x the category's cost share, 2 decimals.
func lineCost(qty, price, category string) string {
	q, _ := strconv.ParseFloat(qty, 64)
	p, _ := strconv.ParseFloat(strings.ReplaceAll(price, ".", ""), 64) // cents
	cents := int64(q*p+0.5) * costShare[category] / 100
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

type invoice struct {
	no, debtor, date, due, amount, currency, status string
	changed                                         time.Time
	day                                             int
	late                                            bool
}

type payment struct {
	no, debtor, date, amount, currency, invoice string
	changed                                     time.Time
	day                                         int
	late                                        bool
	badColumns                                  bool
}

type world struct {
	rng *rand.Rand
	// ev draws the corroborating evidence corroborate adds: a stream of its
	// own, so adding it left every other draw, and so every other record,
	// as it was.
	ev *rand.Rand
	// buy draws the value figures' additions to orders (channels, buying
	// patterns): a stream of its own, so every other record stays as it was.
	buy      *rand.Rand
	opts     Options
	entities []*entity
	erp      []*custRec
	debtors  []*custRec
	contacts []*custRec
	orders   []order
	lines    int
	invoices []invoice
	payments []payment
	tickets  []Ticket

	usedEmail  map[string]bool
	usedPhone  map[string]bool
	usedVAT    map[string]bool
	usedDomain map[string]bool
}

// Generate writes the simulated systems, truth.csv and manifest.json into
// opts.Dir and returns the manifest. It is deterministic for a seed.
func Generate(ctx context.Context, opts Options) (*Manifest, error) {
	if opts.Dir == "" {
		return nil, errors.New("demo: generate: no directory")
	}
	if opts.People == 0 {
		opts.People = 300
	}
	if opts.People < 0 {
		return nil, fmt.Errorf("demo: generate: people %d < 0", opts.People)
	}
	w := &world{
		rng:        rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed_c0ffee)),
		ev:         rand.New(rand.NewPCG(uint64(opts.Seed), 0xe71d_e0ce)),
		buy:        rand.New(rand.NewPCG(uint64(opts.Seed), 0xb0b_5a1e)),
		opts:       opts,
		usedEmail:  map[string]bool{},
		usedPhone:  map[string]bool{},
		usedVAT:    map[string]bool{},
		usedDomain: map[string]bool{},
	}
	w.build()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := w.manifest()
	if err := w.write(ctx, m); err != nil {
		return nil, err
	}
	return m, nil
}

// --- random helpers

func (w *world) pct(p int) bool         { return w.rng.IntN(100) < p }
func (w *world) pick(s []string) string { return s[w.rng.IntN(len(s))] }
func (w *world) digits(n int, firstMin int) string {
	b := make([]byte, n)
	for i := range b {
		lo := 0
		if i == 0 {
			lo = firstMin
		}
		b[i] = byte('0' + lo + w.rng.IntN(10-lo))
	}
	return string(b)
}

// weighted returns i with probability w[i]/sum(w).
func (w *world) weighted(ws ...int) int {
	sum := 0
	for _, x := range ws {
		sum += x
	}
	r := w.rng.IntN(sum)
	for i, x := range ws {
		if r < x {
			return i
		}
		r -= x
	}
	return len(ws) - 1
}

// between returns a time uniformly in [a, b], whole seconds.
func (w *world) between(a, b time.Time) time.Time {
	d := b.Sub(a)
	if d <= 0 {
		return a.Truncate(time.Second)
	}
	return a.Add(time.Duration(w.rng.Int64N(int64(d)))).Truncate(time.Second)
}

// --- real entities

func (w *world) build() {
	for i := 0; i < w.opts.People; i++ {
		if w.pct(35) {
			f := w.newFirm(len(w.entities))
			w.entities = append(w.entities, f)
			for n := w.weighted(35, 40, 20, 5); n > 0; n-- {
				w.entities = append(w.entities, w.newEmployee(len(w.entities), f))
			}
		} else {
			w.entities = append(w.entities, w.newPerson(len(w.entities)))
		}
	}
	for _, e := range w.entities {
		w.records(e)
	}
	w.assignIDs()
	w.markDeterministic()
	w.linked()
	w.breakSome()
}

func (w *world) country() string {
	switch w.weighted(80, 12, 8) {
	case 1:
		return "AT"
	case 2:
		return "CH"
	}
	return "DE"
}

func (w *world) locate(e *entity) {
	e.country = w.country()
	e.place = places[e.country][w.rng.IntN(len(places[e.country]))]
	e.street = w.pick(streets) + " " + fmt.Sprint(1+w.rng.IntN(180))
	if w.pct(8) {
		e.street += string(rune('a' + w.rng.IntN(3)))
	}
	z := e.place.zipBase + w.rng.IntN(e.place.zipSpan)
	if e.country == "DE" {
		e.zip = fmt.Sprintf("%05d", z)
	} else {
		e.zip = fmt.Sprintf("%04d", z)
	}
	e.created = w.between(time.Date(2018, 1, 1, 0, 0, 0, 0, berlin), now.AddDate(0, -1, 0))
	e.lang = "de"
	if w.pct(10) {
		e.lang = "en"
	}
}

func (w *world) newFirm(i int) *entity {
	e := &entity{id: fmt.Sprintf("F%06d", i+1), kind: 'F'}
	w.locate(e)
	forms := legalForms[e.country]
	for try := 0; ; try++ {
		fam := w.pick(familyNames)
		stem := w.pick(firmStems)
		var base string
		switch w.weighted(50, 25, 25) {
		case 0:
			base = fam + " " + stem
		case 1:
			base = stem + " " + fam
		default:
			base = fam + " & " + w.pick(familyNames)
		}
		if try > 3 {
			base += " " + e.place.city
		}
		if try > 6 {
			base += fmt.Sprintf(" %d", try)
		}
		tld := map[string]string{"DE": ".de", "AT": ".at", "CH": ".ch"}[e.country]
		dom := slug(base, "-") + tld
		if !w.usedDomain[dom] {
			w.usedDomain[dom] = true
			e.domain = dom
			e.legal = w.pick(forms)
			e.company = base + " " + e.legal
			break
		}
	}
	e.vat = w.newVAT(e.country)
	e.emails = []string{w.claimEmail("info@" + e.domain)}
	if w.pct(75) {
		e.emails = append(e.emails, w.claimEmail(w.pick([]string{"buchhaltung", "rechnung", "accounting", "einkauf"})+"@"+e.domain))
	}
	e.phones = []phoneNum{w.newPhone(e.country, e.place, false)}
	return e
}

func (w *world) newPerson(i int) *entity {
	e := &entity{id: fmt.Sprintf("P%06d", i+1), kind: 'P'}
	w.locate(e)
	e.given, e.family = w.pick(givenNames), w.pick(familyNames)
	if w.pct(90) {
		e.emails = append(e.emails, w.personalEmail(e, mailProviders[e.country]))
	}
	if w.pct(30) {
		if len(e.emails) == 0 {
			e.emails = append(e.emails, "")
		}
		e.emails = append(e.emails, w.personalEmail(e, mailProviders[e.country]))
	}
	e.phones = make([]phoneNum, 2)
	if w.pct(60) {
		e.phones[0] = w.newPhone(e.country, e.place, false)
	}
	if w.pct(65) {
		e.phones[1] = w.newPhone(e.country, e.place, true)
	}
	e.fuzzy = w.pct(7)
	if e.fuzzy {
		// the CRM record of a fuzzy case carries identifiers the other
		// systems never saw, and one they saw, mistyped (corroborate)
		for len(e.emails) < 2 {
			e.emails = append(e.emails, "")
		}
		e.emails = append(e.emails, w.personalEmail(e, mailProviders[e.country]))
		e.phones = append(e.phones, w.newPhone(e.country, e.place, true))
	}
	return e
}

func (w *world) newEmployee(i int, firm *entity) *entity {
	e := &entity{id: fmt.Sprintf("E%06d", i+1), kind: 'E', employer: firm}
	e.country, e.place, e.street, e.zip, e.lang = firm.country, firm.place, firm.street, firm.zip, firm.lang
	e.created = w.between(firm.created, now.AddDate(0, 0, -7))
	e.given, e.family = w.pick(givenNames), w.pick(familyNames)
	g, f := slug(e.given, ""), slug(e.family, "")
	local := []string{g + "." + f, g[:1] + "." + f, g[:1] + f, f}[w.rng.IntN(4)]
	e.emails = []string{w.claimEmail(local + "@" + firm.domain)}
	e.phones = []phoneNum{w.newPhone(e.country, e.place, false), {}}
	if w.pct(50) {
		e.phones[1] = w.newPhone(e.country, e.place, true)
	}
	return e
}

// claimEmail returns addr, or addr with a number appended to the local part
// if another entity holds it: different entities never share an e-mail.
func (w *world) claimEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	local, dom := addr[:at], addr[at:]
	cand := addr
	for n := 2; w.usedEmail[cand]; n++ {
		cand = fmt.Sprintf("%s%d%s", local, n, dom)
	}
	w.usedEmail[cand] = true
	return cand
}

func (w *world) personalEmail(e *entity, providers []string) string {
	g, f := slug(e.given, ""), slug(e.family, "")
	var local string
	switch w.rng.IntN(6) {
	case 0:
		local = g + "." + f
	case 1:
		local = g[:1] + "." + f
	case 2:
		local = g + f
	case 3:
		local = f + "." + g
	case 4:
		local = g + "." + f + fmt.Sprint(60+w.rng.IntN(45))
	default:
		local = g + "_" + f
	}
	return w.claimEmail(local + "@" + w.pick(providers))
}

func (w *world) newPhone(country string, p place, mobile bool) phoneNum {
	for {
		var n phoneNum
		if mobile {
			m := mobileNDC[country][w.rng.IntN(len(mobileNDC[country]))]
			n = phoneNum{country, countryCode[country], m.ndc, w.digits(m.subLen, 2)}
		} else {
			n = phoneNum{country, countryCode[country], p.ndc, w.digits(p.subLen, 2)}
		}
		if !w.usedPhone[n.e164()] {
			w.usedPhone[n.e164()] = true
			return n
		}
	}
}

func (w *world) newVAT(country string) string {
	for {
		var v string
		switch country {
		case "AT":
			v = "ATU" + w.digits(8, 1)
		case "CH":
			d := w.digits(9, 1)
			v = "CHE-" + d[:3] + "." + d[3:6] + "." + d[6:]
		default:
			v = "DE" + w.digits(9, 1)
		}
		if !w.usedVAT[v] {
			w.usedVAT[v] = true
			return v
		}
	}
}

// --- variants: how each system spells the same thing

// nameStyle picks how one record spells names: as is, transliterated
// (Mueller), upper-case transliterated (MUELLER) or upper case (MÜLLER).
func (w *world) nameStyle(proper, translitP, upperTranslit int) func(string) string {
	switch w.weighted(proper, translitP, upperTranslit, 100-proper-translitP-upperTranslit) {
	case 0:
		return func(s string) string { return s }
	case 1:
		return translit
	case 2:
		return func(s string) string { return strings.ToUpper(translit(s)) }
	}
	return strings.ToUpper
}

// typo makes a spelling only fuzzy matching forgives: Meyer/Meier, Schmidt/Schmitt.
func typo(s string) string {
	for _, r := range [][2]string{{"dt", "tt"}, {"ey", "ei"}, {"ei", "ey"}, {"mm", "m"}, {"nn", "n"}, {"ck", "k"}, {"ü", "u"}, {"ö", "o"}, {"ä", "a"}} {
		if strings.Contains(s, r[0]) {
			return strings.Replace(s, r[0], r[1], 1)
		}
	}
	return s + "n"
}

func (w *world) emailVariant(addr string) string {
	if addr == "" {
		return ""
	}
	switch w.weighted(70, 15, 10, 5) {
	case 1: // Hans.Mueller@GMX.de
		at := strings.IndexByte(addr, '@')
		parts := strings.Split(addr[:at], ".")
		for i, p := range parts {
			if p != "" {
				parts[i] = strings.ToUpper(p[:1]) + p[1:]
			}
		}
		return strings.Join(parts, ".") + "@" + strings.ToUpper(addr[at+1:at+2]) + addr[at+2:]
	case 2:
		return strings.ToUpper(addr)
	case 3:
		return " " + addr + " "
	}
	return addr
}

// phoneVariant formats a number the way people type it; all variants parse
// to the same E.164 number with region DE.
func (w *world) phoneVariant(p phoneNum) string {
	if p.sub == "" {
		return ""
	}
	sub := p.sub
	grouped := sub[:len(sub)-4] + " " + sub[len(sub)-4:len(sub)-2] + " " + sub[len(sub)-2:]
	if p.country == "DE" {
		switch w.rng.IntN(7) {
		case 0:
			return "+49 " + p.ndc + " " + sub
		case 1:
			return "0" + p.ndc + "/" + sub
		case 2:
			return "0049" + p.ndc + sub
		case 3:
			return "0" + p.ndc + " " + sub
		case 4:
			return "0" + p.ndc + "-" + sub
		case 5:
			return "(0" + p.ndc + ") " + grouped
		default:
			return "+49 (0)" + p.ndc + " " + sub
		}
	}
	switch w.rng.IntN(4) {
	case 0:
		return "+" + p.cc + " " + p.ndc + " " + sub
	case 1:
		return "00" + p.cc + " " + p.ndc + " " + sub
	case 2:
		return "+" + p.cc + "-" + p.ndc + "-" + sub
	default:
		return "+" + p.cc + " " + p.ndc + " " + grouped
	}
}

func (w *world) vatVariant(v string) string {
	if strings.HasPrefix(v, "CHE") {
		if w.pct(20) {
			return strings.ToLower(v)
		}
		return v
	}
	switch w.rng.IntN(6) {
	case 1:
		return v[:2] + " " + v[2:]
	case 2:
		return strings.ToLower(v)
	case 3:
		if len(v) == 11 { // DE + 9 digits
			return v[:2] + " " + v[2:5] + " " + v[5:8] + " " + v[8:]
		}
	}
	return v
}

func (w *world) streetVariant(s string) string {
	switch w.rng.IntN(4) {
	case 1:
		return strings.Replace(s, "straße", "str.", 1)
	case 2:
		return strings.Replace(s, "straße", "strasse", 1)
	}
	return s
}

func (w *world) creditLimit(e *entity) string {
	if e.kind == 'F' {
		return fmt.Sprintf("%d.00", (5+w.rng.IntN(96))*1000)
	}
	return fmt.Sprintf("%d.00", (1+w.rng.IntN(10))*500)
}

func currencyOf(country string) string {
	if country == "CH" {
		return "CHF"
	}
	return "EUR"
}

// --- source records of one entity

func (w *world) records(e *entity) {
	var inERP, inFin, inCRM bool
	switch e.kind {
	case 'F':
		inERP = w.pct(95)
		inFin = !inERP || w.pct(85)
	case 'P':
		inERP, inFin, inCRM = w.pct(85), w.pct(55), w.pct(70)
		if !inERP && !inFin && !inCRM {
			inERP = true
		}
		if e.fuzzy && !inCRM {
			inCRM = true
		}
	case 'E':
		inCRM = true
	}
	if inERP {
		w.erpRecord(e)
	}
	if inFin {
		w.debtorRecord(e)
	}
	if inCRM {
		w.contactRecord(e, false)
		if w.pct(3) { // a duplicate someone typed in again
			w.contactRecord(e, true)
		}
	}
	// a few private customers known only to the ERP were deleted there
	if e.kind == 'P' && len(e.recs) == 1 && e.erp != nil && w.pct(2) {
		e.erp.deleted = true
	}
}

func (w *world) addRec(e *entity, r *custRec) {
	r.e = e
	e.recs = append(e.recs, r)
}

func (w *world) erpRecord(e *entity) {
	r := &custRec{system: "erp", entity: "customers", f: map[string]string{}}
	w.addRec(e, r)
	e.erp = r
	r.keys = append(r.keys, "x:erp:"+e.id)
	f := r.f
	f["country"] = w.pick(erpCountry[e.country])
	if w.pct(4) {
		f["country"] = ""
	}
	f["street"] = w.streetVariant(e.street)
	f["zip"], f["city"] = e.zip, e.place.city
	if w.pct(15) {
		f["city"] = strings.ToUpper(translit(e.place.city))
	}
	if e.kind == 'F' {
		f["kind"] = "F"
		if w.pct(30) {
			f["name1"] = strings.TrimSuffix(e.company, " "+e.legal)
			f["name2"] = e.legal
		} else {
			f["name1"] = e.company
		}
		if w.pct(10) {
			f["name1"] = strings.ToUpper(f["name1"])
		}
		if w.pct(95) {
			f["vat_id"] = w.vatVariant(e.vat)
			r.keys = append(r.keys, "t:"+e.vat)
		}
		if w.pct(90) {
			f["phone"] = w.phoneVariant(e.phones[0])
			r.keys = append(r.keys, "p:"+e.phones[0].e164())
		}
		if w.pct(85) {
			f["email"] = w.emailVariant(e.emails[0])
			r.keys = append(r.keys, "e:"+e.emails[0])
		}
	} else {
		f["kind"] = "P"
		style := w.nameStyle(60, 10, 20)
		f["name1"], f["name2"] = style(e.family), style(e.given)
		if w.pct(5) {
			f["name2"] = ""
		}
		if p, ok := w.anyPhone(e, 80, 0, 1); ok {
			f["phone"] = w.phoneVariant(p)
			r.keys = append(r.keys, "p:"+p.e164())
		}
		if a := e.email(0); a != "" && w.pct(80) {
			f["email"] = w.emailVariant(a)
			r.keys = append(r.keys, "e:"+a)
		}
	}
	f["credit_limit"] = w.creditLimit(e)
	if w.pct(10) {
		f["credit_limit"] = ""
	}
	f["currency"] = currencyOf(e.country)
	r.updated = w.between(e.created, now)
	w.erp = append(w.erp, r)
}

// anyPhone picks one of the entity's phones with probability p, preferring
// the given indexes in order with even odds.
func (w *world) anyPhone(e *entity, p int, idx ...int) (phoneNum, bool) {
	if !w.pct(p) {
		return phoneNum{}, false
	}
	var have []phoneNum
	for _, i := range idx {
		if n, ok := e.phone(i); ok {
			have = append(have, n)
		}
	}
	if len(have) == 0 {
		return phoneNum{}, false
	}
	return have[w.rng.IntN(len(have))], true
}

func (w *world) debtorRecord(e *entity) {
	r := &custRec{system: "finance", entity: "debtors", f: map[string]string{}}
	w.addRec(e, r)
	f := r.f
	if e.erp != nil && w.pct(85) {
		f["erp_custno"] = "=" + e.id // resolved to the ERP number once numbers are assigned
		r.keys = append(r.keys, "x:erp:"+e.id)
	}
	f["street"] = w.streetVariant(e.street)
	f["zip"], f["city"] = e.zip, e.place.city
	f["country"] = financeCountry[e.country]
	if e.kind == 'F' {
		f["name"] = e.company
		if w.pct(20) {
			f["name"] = translit(e.company)
		}
		if w.pct(90) {
			f["vat_id"] = w.vatVariant(e.vat)
			r.keys = append(r.keys, "t:"+e.vat)
		}
		var addr string
		switch w.weighted(60, 30, 10) {
		case 0:
			addr = e.email(1)
		case 1:
			addr = e.email(0)
		}
		if addr != "" {
			f["email"] = w.emailVariant(addr)
			r.keys = append(r.keys, "e:"+addr)
		}
		if w.pct(50) {
			f["phone"] = w.phoneVariant(e.phones[0])
			r.keys = append(r.keys, "p:"+e.phones[0].e164())
		}
	} else {
		style := w.nameStyle(70, 20, 0)
		fam, giv := style(e.family), style(e.given)
		if w.pct(60) {
			f["name"] = fam + ", " + giv
		} else {
			f["name"] = giv + " " + fam
		}
		var addr string
		switch w.weighted(60, 10, 30) {
		case 0:
			addr = e.email(0)
		case 1:
			addr = e.email(1)
		}
		if addr != "" {
			f["email"] = w.emailVariant(addr)
			r.keys = append(r.keys, "e:"+addr)
		}
		if p, ok := w.anyPhone(e, 40, 0, 1); ok {
			f["phone"] = w.phoneVariant(p)
			r.keys = append(r.keys, "p:"+p.e164())
		}
	}
	f["credit_limit"] = w.creditLimit(e)
	if w.pct(20) {
		f["credit_limit"] = ""
	}
	r.updated = w.between(e.created, financeDays[0].Add(-time.Hour))
	if w.pct(5) {
		r.day = 1
		r.updated = w.between(financeDays[0], financeDays[1].Add(-time.Hour))
	}
	w.debtors = append(w.debtors, r)
}

func (w *world) contactRecord(e *entity, duplicate bool) {
	r := &custRec{system: "crm", entity: "contacts", f: map[string]string{}}
	w.addRec(e, r)
	f := r.f
	giv, fam := e.given, e.family
	switch w.weighted(85, 5, 5, 5) {
	case 1:
		giv, fam = strings.ToLower(giv), strings.ToLower(fam)
	case 2:
		giv, fam = translit(giv), translit(fam)
	case 3:
		fam = typo(fam)
	}
	f["first_name"], f["last_name"] = giv, fam
	if w.pct(3) {
		f["first_name"] = ""
	}
	f["language"] = e.lang
	f["opt_in_email"] = fmt.Sprint(w.pct(45))
	if e.kind == 'E' {
		f["company"] = e.employer.company
		if e.employer.erp != nil && w.pct(50) {
			// the CRM links the contact to its account: a reference to the
			// firm, not to this person
			f["erp_customer_no"] = "=" + e.employer.id
		}
		f["email"] = w.emailVariant(e.emails[0])
		r.keys = append(r.keys, "e:"+e.emails[0])
		if w.pct(80) {
			f["phone"] = w.phoneVariant(e.phones[0])
			r.keys = append(r.keys, "p:"+e.phones[0].e164())
		}
		if p, ok := e.phone(1); ok {
			f["mobile"] = w.phoneVariant(p)
			r.keys = append(r.keys, "p:"+p.e164())
		}
	} else if e.fuzzy && !duplicate {
		f["email"] = w.emailVariant(e.email(2))
		r.keys = append(r.keys, "e:"+e.email(2))
		f["mobile"] = w.phoneVariant(e.phones[2])
		r.keys = append(r.keys, "p:"+e.phones[2].e164())
	} else {
		if a := e.email(0); a != "" && w.pct(85) {
			f["email"] = w.emailVariant(a)
			r.keys = append(r.keys, "e:"+a)
		}
		if p, ok := e.phone(0); ok && w.pct(60) {
			f["phone"] = w.phoneVariant(p)
			r.keys = append(r.keys, "p:"+p.e164())
		}
		if p, ok := e.phone(1); ok && w.pct(80) {
			f["mobile"] = w.phoneVariant(p)
			r.keys = append(r.keys, "p:"+p.e164())
		}
		if e.erp != nil && w.pct(35) {
			f["erp_customer_no"] = "=" + e.id
			r.keys = append(r.keys, "x:erp:"+e.id)
		}
	}
	r.updated = w.between(e.created, now)
	w.contacts = append(w.contacts, r)
	w.corroborate(e, r)
}

// --- ids

func (w *world) shuffle(rs []*custRec) {
	w.rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
}

func (w *world) assignIDs() {
	// Each system numbers its records in its own order, unrelated to the
	// others.
	w.shuffle(w.erp)
	for i, r := range w.erp {
		r.id = fmt.Sprint(10001 + i)
	}
	w.shuffle(w.debtors)
	for i, r := range w.debtors {
		r.id = fmt.Sprintf("D-%d", 4001+i)
	}
	// the broken contact hides somewhere in the CRM
	if len(w.contacts) > 0 {
		b := &custRec{system: "crm", entity: "contacts", broken: true, f: map[string]string{
			"language": "de", "opt_in_email": "false", "company": "",
		}}
		b.updated = w.between(now.AddDate(0, -2, 0), now)
		w.contacts = append(w.contacts, b)
	}
	w.shuffle(w.contacts)
	for i, r := range w.contacts {
		r.id = fmt.Sprintf("C-%06d", i+1)
	}
	byEntity := map[string]*entity{}
	for _, e := range w.entities {
		byEntity[e.id] = e
	}
	for _, rs := range [][]*custRec{w.debtors, w.contacts} {
		for _, r := range rs {
			for _, k := range []string{"erp_custno", "erp_customer_no"} {
				if v, ok := r.f[k]; ok && strings.HasPrefix(v, "=") {
					r.f[k] = byEntity[v[1:]].erp.id
				}
			}
		}
	}
}

// markDeterministic flags the records linked by strong keys to the largest
// such group of their entity.
func (w *world) markDeterministic() {
	for _, e := range w.entities {
		rs := make([]*custRec, 0, len(e.recs))
		for _, r := range e.recs {
			if !r.deleted {
				rs = append(rs, r)
			}
		}
		parent := make([]int, len(rs))
		for i := range parent {
			parent[i] = i
		}
		var find func(int) int
		find = func(i int) int {
			for parent[i] != i {
				parent[i] = parent[parent[i]]
				i = parent[i]
			}
			return i
		}
		first := map[string]int{}
		for i, r := range rs {
			for _, k := range r.keys {
				if j, ok := first[k]; ok {
					parent[find(i)] = find(j)
				} else {
					first[k] = i
				}
			}
		}
		size := map[int]int{}
		for i := range rs {
			size[find(i)]++
		}
		best, bestN := -1, 1
		for i := range rs { // in record order, so ties go to the first group
			if n := size[find(i)]; n > bestN {
				best, bestN = find(i), n
			}
		}
		for i, r := range rs {
			r.det = best >= 0 && find(i) == best
		}
	}
}

// --- orders, invoices, payments, tickets

func (w *world) linked() {
	// iterate in id order so the output does not depend on map order
	lineCount := 0
	for _, r := range w.erp {
		if r.deleted {
			continue
		}
		e := r.e
		n := w.weighted(40, 35, 18, 7)
		if e.kind == 'F' {
			n = w.weighted(15, 30, 25, 18, 12)
		}
		for range n {
			date := w.between(e.created, now.AddDate(0, 0, -1))
			age := now.Sub(date)
			var status string
			switch {
			case w.pct(5):
				status = "X"
			case age < 7*24*time.Hour:
				status = w.pick([]string{"O", "O", "C"})
			case age < 30*24*time.Hour:
				status = w.pick([]string{"C", "S"})
			default:
				status = "S"
			}
			o := order{
				custno: r.id, date: date.Format("2006-01-02"), status: status,
				currency: r.f["currency"], updated: w.between(date, tmin(date.AddDate(0, 0, 20), now)),
			}
			// A firm orders mostly by phone and through the shop, a
			// person online and in the store.
			if e.kind == 'F' {
				o.channel = []string{"phone", "web", "field_sales", "store"}[weightedBy(w.buy, 35, 35, 20, 10)]
			} else {
				o.channel = []string{"web", "store", "phone"}[weightedBy(w.buy, 60, 30, 10)]
			}
			for ln := 1; ln <= 1+w.weighted(40, 30, 20, 10); ln++ {
				s := skus[w.rng.IntN(len(skus))]
				l := orderLine{no: ln, sku: s.sku, desc: s.desc, qty: fmt.Sprintf("%d.000", 1+w.rng.IntN(12)), priceS: s.price}
				l.category = skuCategory[strings.SplitN(s.sku, "-", 2)[0]]
				l.costS = lineCost(l.qty, l.priceS, l.category)
				o.lines = append(o.lines, l)
				lineCount++
			}
			w.orders = append(w.orders, o)
		}
	}
	w.lines = lineCount
	slices.SortStableFunc(w.orders, func(a, b order) int { return strings.Compare(a.date, b.date) })
	for i := range w.orders { // numbered in the order they were placed
		w.orders[i].no = fmt.Sprint(450001 + i)
	}
	w.buyingPatterns()

	invNo, payNo := 250001, 250001
	for _, r := range w.debtors {
		e := r.e
		n := w.weighted(40, 45, 15)
		if e.kind == 'F' {
			n = w.weighted(15, 35, 30, 20)
		}
		for range n {
			date := w.between(e.created, financeDays[0].Add(-2*time.Hour))
			amount := 20*100 + w.rng.IntN(2000*100)
			if e.kind == 'F' {
				amount = 200*100 + w.rng.IntN(40000*100)
			}
			st := []string{"offen", "bezahlt", "storniert"}[w.weighted(30, 62, 8)]
			inv := invoice{
				no: fmt.Sprintf("RE-%d", invNo), debtor: r.id, date: date.Format("02.01.2006"),
				due:    date.AddDate(0, 0, []int{14, 30, 30, 60}[w.rng.IntN(4)]).Format("02.01.2006"),
				amount: deAmount(amount), currency: currencyOf(e.country), status: st,
				changed: w.between(date, financeDays[0].Add(-time.Hour)),
			}
			if w.pct(10) {
				inv.day = 1
				inv.changed = w.between(financeDays[0], financeDays[1].Add(-time.Hour))
			}
			// invoices of debtors that only arrive with the second day's
			// export sit in the first day's file
			if r.day == 1 {
				inv.day, inv.late = 0, true
			}
			invNo++
			w.invoices = append(w.invoices, inv)
			if st != "bezahlt" {
				continue
			}
			parts := []int{amount}
			if w.pct(8) && amount > 100 {
				parts = []int{amount / 2, amount - amount/2}
			}
			pd := date
			for _, p := range parts {
				pd = w.between(pd, tmin(pd.AddDate(0, 0, 40), financeDays[1].Add(-time.Hour)))
				pay := payment{
					no: fmt.Sprintf("ZE-%d", payNo), debtor: r.id, date: pd.Format("02.01.2006"), amount: deAmount(p),
					currency: inv.currency, invoice: inv.no, changed: w.between(pd, tmin(pd.AddDate(0, 0, 2), financeDays[1].Add(-time.Hour))),
				}
				if !pay.changed.Before(financeDays[0]) {
					pay.day = 1
				}
				if r.day == 1 && pay.day == 0 {
					pay.late = true
				}
				payNo++
				w.payments = append(w.payments, pay)
			}
		}
	}

	for _, r := range w.contacts {
		if r.broken {
			continue
		}
		for range w.weighted(60, 30, 10) {
			created := w.between(r.e.created, now.Add(-time.Hour))
			age := now.Sub(created)
			var status string
			switch {
			case age < 3*24*time.Hour:
				status = w.pick([]string{"new", "open", "waiting"})
			case age < 30*24*time.Hour:
				status = w.pick([]string{"open", "waiting", "solved"})
			default:
				status = w.pick([]string{"closed", "closed", "solved"})
			}
			t := Ticket{
				ContactID: r.id, Subject: w.pick(ticketSubjects), Status: status,
				Priority:  []string{"low", "medium", "high", "urgent"}[w.weighted(20, 55, 20, 5)],
				Channel:   []string{"email", "phone", "web", "chat"}[w.weighted(45, 30, 20, 5)],
				CreatedAt: created.UTC(),
			}
			t.UpdatedAt = w.between(created, tmin(created.Add(10*24*time.Hour), now)).UTC()
			if status == "solved" || status == "closed" {
				c := t.UpdatedAt
				t.ClosedAt = &c
			}
			w.tickets = append(w.tickets, t)
		}
	}
	slices.SortStableFunc(w.tickets, func(a, b Ticket) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for i := range w.tickets {
		w.tickets[i].ID = fmt.Sprintf("T-%d", 1001+i)
	}
}

// weightedBy is weighted on another stream.
func weightedBy(r *rand.Rand, weights ...int) int {
	total := 0
	for _, x := range weights {
		total += x
	}
	n := r.IntN(total)
	for i, x := range weights {
		if n < x {
			return i
		}
		n -= x
	}
	return len(weights) - 1
}

// buyingPatterns adds repeat orders so every lifecycle stage shows: about
// one ERP customer in six buys every month and still does (active), one in
// twelve bought monthly until a year ago (lapsed), one in twelve bought
// monthly until three months ago (at risk), one in twenty bought long ago
// and came back last week (won back). The orders copy one of the
// customer's own, so they add no new customers; they are numbered after
// the others, drawn from their own stream.
func (w *world) buyingPatterns() {
	var extra []order
	byCust := map[string]order{}
	for _, o := range w.orders {
		if _, ok := byCust[o.custno]; !ok && o.status != "X" {
			byCust[o.custno] = o
		}
	}
	for _, r := range w.erp {
		base, ok := byCust[r.id]
		if r.deleted || !ok {
			continue
		}
		var ago []int // days before now
		switch p := w.buy.IntN(60); {
		case p < 10: // regular, still buying
			for k := range 4 + w.buy.IntN(8) {
				ago = append(ago, 2+30*k+w.buy.IntN(4))
			}
		case p < 15: // lapsed a year ago
			for k := range 3 + w.buy.IntN(5) {
				ago = append(ago, 400+30*k)
			}
		case p < 20: // at risk: silent for three months
			for k := range 3 + w.buy.IntN(4) {
				ago = append(ago, 95+30*k)
			}
		case p < 23: // won back
			ago = []int{1 + w.buy.IntN(6), 500, 530, 560}
		}
		for _, d := range ago {
			date := now.AddDate(0, 0, -d)
			o := base
			o.date, o.status, o.updated = date.Format("2006-01-02"), "S", tmin(date.AddDate(0, 0, 3), now)
			if d < 7 {
				o.status = "C"
			}
			o.lines = slices.Clone(base.lines)
			extra = append(extra, o)
		}
	}
	for i := range extra {
		extra[i].no = fmt.Sprint(450001 + len(w.orders) + i)
		w.lines += len(extra[i].lines)
	}
	w.orders = append(w.orders, extra...)
}

// breakSome breaks records on purpose, as real exports are broken.
func (w *world) breakSome() {
	for i := range w.invoices {
		if w.invoices[i].day == 0 && !w.invoices[i].late {
			w.invoices[i].amount = "n/a"
			break
		}
	}
	for i := range w.payments {
		if strings.Contains(w.payments[i].amount, ",") && w.payments[i].day == 0 {
			w.payments[i].badColumns = true
			break
		}
	}
}

// deAmount formats cents the German way: 123456 -> "1.234,56".
func deAmount(cents int) string {
	s := fmt.Sprint(cents / 100)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(c)
	}
	return fmt.Sprintf("%s,%02d", b.String(), cents%100)
}

func (w *world) manifest() *Manifest {
	m := &Manifest{
		Seed: w.opts.Seed, People: w.opts.People,
		Entities:            map[string]int{},
		Counts:              map[string]int{},
		ExpectedDeadLetters: map[string]int{},
		Deleted:             map[string]int{},
		LateReferences:      map[string]int{},
		OrderLines:          w.lines,
	}
	for _, e := range w.entities {
		m.Entities[map[byte]string{'F': "firm", 'P': "person", 'E': "employee"}[e.kind]]++
	}
	m.Counts["erp/customers"] = len(w.erp)
	m.Counts["erp/orders"] = len(w.orders)
	m.Counts["finance/debtors"] = len(w.debtors)
	m.Counts["finance/invoices"] = len(w.invoices)
	m.Counts["finance/payments"] = len(w.payments)
	m.Counts["crm/contacts"] = len(w.contacts)
	m.Counts["servicedesk/tickets"] = len(w.tickets)
	for _, r := range w.erp {
		if r.deleted {
			m.Deleted["erp/customers"]++
		}
	}
	for _, inv := range w.invoices {
		if inv.amount == "n/a" {
			m.ExpectedDeadLetters["finance/invoices"]++
		}
		if inv.late {
			m.LateReferences["finance/invoices"]++
		}
	}
	for _, p := range w.payments {
		if p.badColumns {
			m.ExpectedDeadLetters["finance/payments"]++
		}
		if p.late {
			m.LateReferences["finance/payments"]++
		}
	}
	for _, r := range w.contacts {
		if r.broken {
			m.ExpectedDeadLetters["crm/contacts"]++
		}
	}
	for _, e := range w.entities {
		all, det := 0, 0
		for _, r := range e.recs {
			if !r.deleted {
				all++
				if r.det {
					det++
				}
			}
		}
		m.CustomerRecords += all
		m.DeterministicRecords += det
		if e.kind == 'P' && len(m.SampleEmails) < 3 && len(e.recs) == 3 && det == 3 && e.email(0) != "" {
			m.SampleEmails = append(m.SampleEmails, e.email(0))
		}
	}
	return m
}

// outputs are what Generate owns in the directory and replaces.
var outputs = []string{"erp.db", "erp.db-journal", "finance", "crm", "servicedesk", "truth.csv", "manifest.json"}

func (w *world) write(ctx context.Context, m *Manifest) error {
	dir := w.opts.Dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: create %s: %w", dir, err)
	}
	for _, o := range outputs {
		if err := os.RemoveAll(filepath.Join(dir, o)); err != nil {
			return fmt.Errorf("demo: remove old %s: %w", o, err)
		}
	}
	steps := []struct {
		name string
		fn   func(context.Context, string) ([]string, error)
	}{
		{"erp", w.writeERP},
		{"finance", w.writeFinance},
		{"crm", w.writeCRM},
		{"servicedesk", w.writeTickets},
		{"truth", w.writeTruth},
	}
	for _, s := range steps {
		files, err := s.fn(ctx, dir)
		if err != nil {
			return fmt.Errorf("demo: write %s: %w", s.name, err)
		}
		m.Files = append(m.Files, files...)
	}
	m.Files = append(m.Files, "manifest.json")
	b, err := m.marshal()
	if err != nil {
		return fmt.Errorf("demo: manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		return fmt.Errorf("demo: write manifest: %w", err)
	}
	return nil
}

func tmin(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
