package suggest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/mapping/funcs"
)

// Options say what Suggest proposes a mapping for.
type Options struct {
	Target string // canonical entity, e.g. "customer"
	System string // source system name for the YAML; default "SYSTEM"
	Entity string // source entity name; default "ENTITY"
	Input  string // shown in the header comment
}

// Suggestion is one proposed field.
type Suggestion struct {
	Target     string
	Expr       string
	Column     string
	Confidence float64
	Why        string
}

// column is what the sample says about one source field.
type column struct {
	name   string
	key    string // normalized name
	values []string
	recs   []map[string]any // the record of each value, for reading it with the row's country
	n      int              // records
}

func (c *column) frac(ok func(string) bool) float64 {
	if len(c.values) == 0 {
		return 0
	}
	hit := 0
	for _, v := range c.values {
		if ok(v) {
			hit++
		}
	}
	return float64(hit) / float64(len(c.values))
}

func normCol(s string) string {
	s = strings.ToLower(s)
	s = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss").Replace(s)
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, s)
}

// nameHints: target -> normalized column names (English and German) that
// usually hold it. Order matters: the first target whose hint matches wins.
var nameHints = []struct {
	target string
	keys   []string
}{
	{"given_name", []string{"vorname", "firstname", "givenname", "forename", "first"}},
	{"family_name", []string{"nachname", "lastname", "familyname", "surname", "familienname", "last"}},
	{"birth_date", []string{"geburtsdatum", "birthdate", "dateofbirth", "dob", "birthday", "geburtstag", "gebdatum", "gebdat"}},
	{"identifiers[]", []string{"ssn", "socialsecuritynumber", "nationalid", "nationalidnumber", "nino", "steuerid",
		"steueridentifikationsnummer", "passport", "passportnumber", "passnummer", "personalausweisnummer", "ausweisnummer"}},
	{"organization_name", []string{"firma", "firmenname", "company", "companyname", "organization", "organisation", "organisationname", "accountname", "name1", "unternehmen", "kundenname"}},
	{"full_name", []string{"name", "fullname", "kontakt", "contact", "contactname", "ansprechpartner", "kunde", "customer", "customername"}},
	{"tax_id", []string{"ustid", "ustidnr", "vat", "vatid", "vatno", "vatnumber", "taxid", "steuernummer", "uid"}},
	{"emails[]", []string{"email", "mail", "emailadresse", "emailaddress", "mailadresse"}},
	{"phones[]", []string{"telefon", "phone", "tel", "telephone", "phonenumber", "mobil", "mobile", "handy", "mobilephone", "telefonnummer", "cell"}},
	// The second line before the first: "address2" contains "address".
	{"addresses[0].street2", []string{"street2", "addressline2", "address2", "streetline2", "line2", "strasse2",
		"adresszusatz", "addresszusatz", "adresse2"}},
	{"addresses[0].street", []string{"strasse", "street", "address", "adresse", "addressline1", "street1", "anschrift"}},
	{"addresses[0].postal_code", []string{"plz", "zip", "zipcode", "postalcode", "postcode", "postleitzahl"}},
	{"addresses[0].city", []string{"ort", "stadt", "city", "town", "wohnort"}},
	{"addresses[0].region", []string{"bundesland", "state", "region", "province", "kanton"}},
	{"addresses[0].country", []string{"land", "country", "staat", "countrycode", "laendercode"}},
	{"language", []string{"sprache", "language", "lang", "locale"}},
	{"gender", []string{"gender", "geschlecht", "sex", "anrede", "salutation"}},
	{"status", []string{"status", "state"}},
	{"segment", []string{"segment", "branche", "industry", "kundengruppe", "category", "kategorie"}},
	{"account_manager", []string{"betreuer", "owner", "accountmanager", "salesrep", "vertriebler", "kam"}},
	{"credit_limit", []string{"kreditlimit", "creditlimit", "limit", "credit"}},
	{"consent.newsletter", []string{"newsletter", "optin", "newsletteroptin", "marketingconsent"}},
	{"created_at", []string{"created", "createdat", "erstellt", "angelegt", "angelegtam", "createddate", "erstelltam"}},
	{"updated_at", []string{"updated", "updatedat", "modified", "changed", "geaendert", "geaendertam", "lastmodified", "aenderungsdatum"}},
}

var dateLayouts = []struct{ layout, label string }{
	{"2006-01-02T15:04:05Z07:00", "RFC 3339"},
	{"2006-01-02T15:04:05", "ISO local"},
	{"2006-01-02 15:04:05", "ISO with space"},
	{"2006-01-02", "ISO date"},
	{"02.01.2006 15:04:05", "German"},
	{"02.01.2006 15:04", "German"},
	{"02.01.2006", "German"},
	{"02/01/2006", "day first"},
	{"01/02/2006", "month first"},
	{"20060102", "compact"},
}

// Suggest proposes a first mapping YAML from sample records: column names
// (English and German) and values (e-mail, phone, dates, countries, money,
// yes/no) decide the target, with a confidence per field as a comment.
func Mapping(records []map[string]any, opts Options) ([]byte, []Suggestion, error) {
	if opts.Target == "" {
		opts.Target = "customer"
	}
	if opts.System == "" {
		opts.System = "SYSTEM"
	}
	if opts.Entity == "" {
		opts.Entity = "ENTITY"
	}
	props, err := mapping.TargetFields(opts.Target, "v1")
	if err != nil {
		return nil, nil, err
	}
	if len(records) == 0 {
		return nil, nil, fmt.Errorf("suggest: no sample records")
	}
	cols := map[string]*column{}
	var order []string
	for _, r := range records {
		for k, v := range r {
			c := cols[k]
			if c == nil {
				c = &column{name: k, key: normCol(k)}
				cols[k] = c
				order = append(order, k)
			}
			c.n++
			if s, ok, _ := mapping.Text(v); ok && strings.TrimSpace(s) != "" && len(c.values) < 500 {
				c.values = append(c.values, strings.TrimSpace(s))
				c.recs = append(c.recs, r)
			}
		}
	}
	sort.Strings(order)

	var sugg []Suggestion
	taken := map[string]bool{}
	used := map[string]bool{}
	add := func(s Suggestion) {
		sugg = append(sugg, s)
		taken[s.Target] = true
		used[s.Column] = true
	}
	countryCol := ""
	for _, name := range order {
		c := cols[name]
		if t := hintFor(c.key); t == "addresses[0].country" || c.frac(func(v string) bool { return funcs.CountryCode(v) != "" && len(v) > 1 }) >= 0.9 && t == "" {
			countryCol = name
			break
		}
	}
	for _, name := range order {
		c := cols[name]
		if len(c.values) == 0 || idLike(c.key) {
			continue // the record's own id travels as source_id
		}
		if s, ok := suggestColumn(c, countryCol, taken, opts.Target, props); ok {
			add(s)
		}
	}
	if opts.Target == "customer" {
		hasOrg := taken["organization_name"]
		hasPerson := taken["family_name"] || taken["full_name"]
		switch {
		case hasOrg && hasPerson:
			org := ""
			for _, s := range sugg {
				if s.Target == "organization_name" {
					org = s.Column
				}
			}
			add(Suggestion{Target: "kind", Expr: fmt.Sprintf(`%s != nil ? "organization" : "person"`, mapping.Ident(org)), Confidence: 0.6, Why: "organization when a company name is present"})
		case hasOrg:
			add(Suggestion{Target: "kind", Expr: `"organization"`, Confidence: 0.8, Why: "a company name column and no person name"})
		default:
			add(Suggestion{Target: "kind", Expr: `"person"`, Confidence: 0.7, Why: "no company name column"})
		}
		// Given and family name in two columns: the full name too, so
		// that a person whose family name is blank (a CRM contact known
		// by a first name) is kept, not dead-lettered by the schema,
		// which wants a family name or a full name.
		if taken["given_name"] && taken["family_name"] && !taken["full_name"] {
			var given, family Suggestion
			for _, s := range sugg {
				switch s.Target {
				case "given_name":
					given = s
				case "family_name":
					family = s
				}
			}
			add(Suggestion{Target: "full_name", Expr: fmt.Sprintf(`join(" ", %s, %s)`, given.Expr, family.Expr), Column: family.Column,
				Confidence: min(given.Confidence, family.Confidence), Why: "the two names joined: keeps a person whose family name is blank"})
		}
		// Person name in one column: split it.
		for i, s := range sugg {
			if s.Target == "full_name" && !taken["family_name"] && !hasOrg {
				sugg[i].Target, sugg[i].Expr = "family_name", "family_name("+mapping.Ident(s.Column)+")"
				sugg = append(sugg, Suggestion{Target: "given_name", Expr: "given_name(" + mapping.Ident(s.Column) + ")", Column: s.Column, Confidence: s.Confidence * 0.9, Why: "person name split by split_name"},
					// The whole name stays too: a name of one word ("Anna")
					// gives no family name, and the schema wants one or a
					// full name.
					Suggestion{Target: "full_name", Expr: "collapse(" + mapping.Ident(s.Column) + ")", Column: s.Column, Confidence: s.Confidence, Why: "the name as written: keeps a person with one name"})
			}
		}
	}
	targetOrder := map[string]int{}
	for i, h := range nameHints {
		targetOrder[h.target] = i + 1
	}
	sort.SliceStable(sugg, func(i, j int) bool {
		oi, oj := targetOrder[sugg[i].Target], targetOrder[sugg[j].Target]
		if sugg[i].Target == "kind" {
			oi = -1
		}
		if sugg[j].Target == "kind" {
			oj = -1
		}
		return oi < oj
	})

	var b strings.Builder
	fmt.Fprintf(&b, "# Suggested by `crmhub mapping suggest` from %s (%d records). Review every line:\n", orDefault(opts.Input, "sample records"), len(records))
	b.WriteString("# the confidence in each comment is how sure the guess is (1.0 = column name and values agree).\n")
	fmt.Fprintf(&b, "mapping: %s_%s\nversion: 1\n", yamlName(opts.System), yamlName(opts.Entity))
	fmt.Fprintf(&b, "source: {system: %s, entity: %s}\n", yamlName(opts.System), yamlName(opts.Entity))
	fmt.Fprintf(&b, "target: {entity: %s, schema: v1}\n", opts.Target)
	b.WriteString("unknown_fields: custom   # unmapped columns are carried in custom; use ignore to drop them\n")
	b.WriteString("fields:\n")
	appends := map[string]int{}
	for _, s := range sugg {
		key := s.Target
		if strings.HasSuffix(key, "[]") {
			if n := appends[key]; n > 0 {
				key = strings.TrimSuffix(key, "[]") + "[+" + strconv.Itoa(n) + "]"
			}
			appends[s.Target]++
		}
		src := fmt.Sprintf("%s: %s", key, yamlQuote(s.Expr))
		fmt.Fprintf(&b, "  %-55s # confidence %.2f: %s\n", src, s.Confidence, s.Why)
	}
	var rest []string
	for _, name := range order {
		if !used[name] {
			rest = append(rest, name)
		}
	}
	if len(rest) > 0 {
		fmt.Fprintf(&b, "# not mapped (carried in custom): %s\n", strings.Join(rest, ", "))
	}
	return []byte(b.String()), sugg, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func yamlName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, s)
	return s
}

func yamlQuote(e string) string { return "'" + strings.ReplaceAll(e, "'", "''") + "'" }

func hintFor(key string) string {
	for _, h := range nameHints {
		for _, k := range h.keys {
			if key == k {
				return h.target
			}
		}
	}
	for _, h := range nameHints {
		for _, k := range h.keys {
			if len(k) >= 4 && strings.Contains(key, k) {
				return h.target
			}
		}
	}
	return ""
}

func suggestColumn(c *column, countryCol string, taken map[string]bool, target string, props map[string]bool) (Suggestion, bool) {
	id := mapping.Ident(c.name)
	hint := hintFor(c.key)
	emailFrac := c.frac(func(v string) bool { return funcs.Email(v) != "" })
	if emailFrac >= 0.8 || hint == "emails[]" && emailFrac >= 0.5 {
		if target == "customer" {
			return Suggestion{"emails[]", "email(" + id + ")", c.name, conf(hint == "emails[]", emailFrac), pct(emailFrac, len(c.values)) + " look like e-mail addresses"}, true
		}
	}
	if faxLike(c.key) {
		// A fax number is a valid phone number, but not one to call (or
		// to merge customers on): leave it to custom.
		return Suggestion{}, false
	}
	if hint == "birth_date" && target == "customer" && !taken[hint] {
		// Before the date columns: a birth date has no time zone, may
		// be partial, and is read by birth_date().
		expr, order := mapping.BirthDateExpr(id, c.values)
		frac := c.frac(func(v string) bool { return funcs.BirthDate(v, order) != "" })
		if frac >= 0.5 {
			why := " read as birth dates"
			if order != "" {
				why += ", slashed ones " + order + " as the column's own show"
			}
			return Suggestion{hint, expr, c.name, conf(true, frac), pct(frac, len(c.values)) + why}, true
		}
	}
	// A column named for something else (an SSN, a postcode) is not taken
	// for a phone however its values parse: "123-45-6789" is a valid
	// French number.
	if target == "customer" && (hint == "" || hint == "phones[]") {
		if s, ok := suggestPhone(c, id, hint, countryCol); ok {
			return s, true
		}
	}
	if layout, label, hasTime, frac := dateGuess(c.values); frac >= 0.9 {
		t := hint
		if t == "" || !strings.HasSuffix(t, "_at") {
			t = dateTarget(c.key, props)
		}
		if t != "" && !taken[t] {
			fn, why := "date", "date"
			if strings.HasSuffix(t, "_at") {
				fn, why = "timestamp", "timestamp"
			}
			_ = hasTime
			return Suggestion{t, fmt.Sprintf("%s(%s, %q, \"Europe/Berlin\")", fn, id, layout), c.name, conf(hint != "", frac), pct(frac, len(c.values)) + " are " + label + " " + why + "s; check the source time zone"}, true
		}
	}
	countryFrac := c.frac(func(v string) bool { return funcs.CountryCode(v) != "" })
	if (hint == "addresses[0].country" && countryFrac >= 0.5 || countryFrac >= 0.9 && hint == "") && target == "customer" && !taken["addresses[0].country"] {
		return Suggestion{"addresses[0].country", "country(" + id + ")", c.name, conf(hint != "", countryFrac), pct(countryFrac, len(c.values)) + " are country codes or names"}, true
	}
	boolFrac := c.frac(func(v string) bool { _, err := mapping.Call("bool", v); return err == nil })
	if hint == "consent.newsletter" && boolFrac >= 0.9 {
		return Suggestion{hint, "bool(" + id + ")", c.name, conf(true, boolFrac), pct(boolFrac, len(c.values)) + " are yes/no values"}, true
	}
	if loc, cur, frac := moneyGuess(c.values); frac >= 0.9 && (hint == "credit_limit" || cur != "") {
		t := hint
		if t == "" {
			t = moneyTarget(c.key, props)
		}
		if t != "" && !taken[t] {
			curArg := `"EUR"`
			why := pct(frac, len(c.values)) + " are amounts in locale " + loc
			if cur != "" {
				curArg, why = "nil", why+" with the currency written in"
			} else {
				why += "; currency assumed EUR"
			}
			return Suggestion{t, fmt.Sprintf("money(%s, %s, %q)", id, curArg, loc), c.name, conf(hint != "", frac) * 0.9, why}, true
		}
	}
	if hint != "" && !taken[hint] && target == "customer" {
		expr := "collapse(" + id + ")"
		switch hint {
		case "tax_id":
			expr = "upper(nospace(" + id + "))"
		case "addresses[0].postal_code":
			expr = "trim(" + id + ")"
		case "language":
			expr = "lower(" + id + ")"
		case "gender":
			expr = "gender(" + id + ")"
		case "birth_date":
			return Suggestion{}, false // the values did not read as birth dates
		case "identifiers[]":
			expr = fmt.Sprintf("person_id(%q, %s)", idScheme(c.key), id)
		case "status":
			return Suggestion{hint, "lower(" + id + ")", c.name, 0.5, "column name; source codes usually need a table: lookup(\"status\", " + c.name + ")"}, true
		case "emails[]", "phones[]", "consent.newsletter", "credit_limit", "created_at", "updated_at", "addresses[0].country":
			return Suggestion{}, false // the values did not confirm the name
		}
		if exactHint(c.key) {
			return Suggestion{hint, expr, c.name, 0.8, "column name"}, true
		}
		return Suggestion{hint, expr, c.name, 0.5, "column name contains a known word"}, true
	}
	if target != "customer" && props != nil {
		for prop := range props {
			if normCol(prop) == c.key && !taken[prop] {
				return Suggestion{prop, "trim(" + id + ")", c.name, 0.6, "column name equals the canonical field"}, true
			}
		}
	}
	return Suggestion{}, false
}

func conf(nameAgrees bool, frac float64) float64 {
	if nameAgrees {
		return min(1, 0.5+frac/2)
	}
	return 0.8 * frac
}

func pct(frac float64, n int) string { return fmt.Sprintf("%.0f%% of %d values", frac*100, n) }

var phoneRegions = []string{"DE", "AT", "CH", "NL", "FR", "GB", "US", "IT", "ES", "PL"}

// idScheme names the person-identifier scheme a column holds.
func idScheme(key string) string {
	switch {
	case key == "ssn" || strings.Contains(key, "socialsecurity"):
		return "ssn"
	case key == "nino":
		return "nino"
	case strings.Contains(key, "steuerid"):
		return "steuer_id"
	case strings.Contains(key, "passport") || strings.Contains(key, "passnummer"):
		return "passport"
	}
	return "national_id"
}

// faxLike: fax, telefax, fax_number, Faxnummer … (normalized column names).
func faxLike(key string) bool { return strings.Contains(key, "fax") }

// suggestPhone proposes phone() for a column of phone numbers. A region
// is only ever one the values were read in: with a country column each
// value is read with its own row's country and no fallback region is
// added (a number whose country is missing or unknown is left out with a
// warning, not turned into a number of some guessed country); without
// one, numbers that all carry their country prefix get no region, and
// otherwise the region in which most values are valid numbers.
func suggestPhone(c *column, id, hint, countryCol string) (Suggestion, bool) {
	good := func(frac float64) bool { return frac >= 0.8 || hint == "phones[]" && frac >= 0.5 }
	if countryCol != "" {
		hit := 0
		for i, v := range c.values {
			cs, _, _ := mapping.Text(c.recs[i][countryCol])
			region := "ZZ"
			if cc := funcs.CountryCode(cs); cc != "" {
				region = cc
			}
			if strings.IndexFunc(v, unicode.IsLetter) < 0 && funcs.ParsePhone(v, region) != "" {
				hit++
			}
		}
		if frac := float64(hit) / float64(len(c.values)); good(frac) {
			return Suggestion{"phones[]", "phone(" + id + ", country(" + mapping.Ident(countryCol) + "))", c.name, conf(hint == "phones[]", frac),
				pct(frac, len(c.values)) + " are valid phone numbers in their row's " + countryCol + "; the others are left out with a warning"}, true
		}
		return Suggestion{}, false
	}
	if frac := c.frac(func(v string) bool {
		return strings.IndexFunc(v, unicode.IsLetter) < 0 && funcs.ParsePhone(v, "ZZ") != ""
	}); good(frac) {
		return Suggestion{"phones[]", "phone(" + id + ")", c.name, conf(hint == "phones[]", frac), pct(frac, len(c.values)) + " are valid international phone numbers"}, true
	}
	if region, frac := phoneRegionGuess(c.values); good(frac) {
		return Suggestion{"phones[]", fmt.Sprintf("phone(%s, %q)", id, region), c.name, conf(hint == "phones[]", frac),
			pct(frac, len(c.values)) + " are valid phone numbers in " + region + "; the others are left out with a warning"}, true
	}
	return Suggestion{}, false
}

func phoneRegionGuess(values []string) (string, float64) {
	best, bestFrac := "DE", 0.0
	for _, r := range phoneRegions {
		hit := 0
		for _, v := range values {
			if strings.IndexFunc(v, unicode.IsLetter) >= 0 {
				continue
			}
			if n, err := phonenumbers.Parse(v, r); err == nil && phonenumbers.IsValidNumber(n) {
				hit++
			}
		}
		if f := float64(hit) / float64(max(1, len(values))); f > bestFrac {
			best, bestFrac = r, f
		}
	}
	return best, bestFrac
}

func dateGuess(values []string) (layout, label string, hasTime bool, frac float64) {
	for _, l := range dateLayouts {
		hit := 0
		for _, v := range values {
			if _, err := time.Parse(l.layout, v); err == nil {
				hit++
			}
		}
		if f := float64(hit) / float64(max(1, len(values))); f > frac {
			layout, label, frac, hasTime = l.layout, l.label, f, strings.Contains(l.layout, "15")
		}
	}
	return
}

func dateTarget(key string, props map[string]bool) string {
	if props == nil {
		return ""
	}
	for prop := range props {
		if normCol(prop) == key {
			return prop
		}
	}
	for _, p := range []string{"order_date", "date", "due_date", "opened_at", "closed_at"} {
		if _, ok := props[p]; ok && strings.Contains(key, normCol(strings.TrimSuffix(strings.TrimSuffix(p, "_at"), "_date"))) {
			return p
		}
	}
	return ""
}

func moneyTarget(key string, props map[string]bool) string {
	if props == nil {
		return ""
	}
	for _, p := range []string{"total", "amount", "credit_limit"} {
		if _, ok := props[p]; ok {
			return p
		}
	}
	return ""
}

func moneyGuess(values []string) (locale, currency string, frac float64) {
	votes := map[string]int{}
	hit := 0
	for _, v := range values {
		m, err := mapping.Call("money", v, nil)
		if err == nil && m != nil {
			currency = m.(map[string]any)["currency"].(string)
			hit++
			continue
		}
		if l, err := funcs.DetectLocale(v); err == nil {
			if _, ok, err := funcs.ParseDecimal(v, l); ok && err == nil && strings.ContainsAny(v, ".,") {
				votes[l]++
				hit++
			}
		}
	}
	locale = "en"
	for l, n := range votes {
		if n > votes[locale] {
			locale = l
		}
	}
	return locale, currency, float64(hit) / float64(max(1, len(values)))
}

func idLike(key string) bool {
	if key == "id" || key == "uuid" || key == "guid" {
		return true
	}
	for _, suf := range []string{"nr", "id", "no", "number", "nummer", "num"} {
		if h := hintFor(key); strings.HasSuffix(key, suf) && h != "tax_id" && h != "phones[]" && h != "addresses[0].postal_code" {
			return true
		}
	}
	return false
}

func exactHint(key string) bool {
	for _, h := range nameHints {
		for _, k := range h.keys {
			if key == k {
				return true
			}
		}
	}
	return false
}
