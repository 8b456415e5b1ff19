package quality

import (
	"fmt"
	"math/rand"
	"strings"

	"github.com/crmhub/crmhub/hub"
)

// Firm corruption kinds: how one company's records differ between an ERP,
// a CRM and a finance system.
var FirmCorruptions = []string{"legal_form", "typo", "abbreviation", "all_caps", "moved", "postcode_digit",
	"missing_tax_id", "tax_id_typo"}

// Firms make each locale's company names: a family or place name with a
// trade, and the legal forms written there (each with the variants
// people type).
var firmTrades = map[string][]string{
	"DE": {"Bau", "Logistik", "Haustechnik", "Metallbau", "Immobilien", "Elektro", "Druckerei", "Spedition"},
	"GB": {"Engineering", "Logistics", "Builders", "Consulting", "Motors", "Printing", "Plumbing", "Holdings"},
	"US": {"Construction", "Logistics", "Software", "Consulting", "Supply", "Manufacturing", "Foods", "Services"},
	"FR": {"Bâtiment", "Transports", "Conseil", "Menuiserie", "Imprimerie", "Électricité", "Immobilier", "Boulangerie"},
	"AU": {"Constructions", "Transport", "Plumbing", "Electrical", "Landscaping", "Mining", "Freight", "Roofing"},
}

var legalForms = map[string][][]string{ // per locale: a form and the variants of the same form
	"DE": {{"GmbH", "G.m.b.H.", "Gesellschaft mit beschränkter Haftung"}, {"AG", "Aktiengesellschaft"}, {"GmbH & Co. KG", "GmbH & Co KG"}, {"KG"}},
	"GB": {{"Ltd", "Limited", "Ltd."}, {"PLC", "plc"}, {"LLP"}},
	"US": {{"Inc.", "Inc", "Incorporated"}, {"LLC", "L.L.C."}, {"Corp.", "Corporation"}},
	"FR": {{"SARL", "S.A.R.L."}, {"SAS", "S.A.S."}, {"SA", "S.A."}},
	"AU": {{"Pty Ltd", "Pty. Ltd.", "Proprietary Limited"}, {"Ltd", "Limited"}},
}

var tradeAbbr = map[string]string{"Logistik": "Log.", "Haustechnik": "HT", "Engineering": "Eng.", "Construction": "Constr.",
	"Consulting": "Cons.", "Manufacturing": "Mfg.", "Services": "Svcs", "Transports": "Transp.", "Constructions": "Constr.",
	"Immobilien": "Immob.", "Metallbau": "Metallbau", "Spedition": "Sped."}

// GenerateFirms makes n companies with 1-3 records each, deterministically
// per seed. With sisters, a share of companies has a sister company of the
// same owner at the same address (the same name stem, another trade,
// another tax id): two firms a matcher must keep apart.
func GenerateFirms(n int, seed int64, sisters float64) []Record {
	r := rand.New(rand.NewSource(seed))
	var out []Record
	seq := 0
	var sister *hub.Customer
	var sisterLoc locale
	for p := 0; p < n; p++ {
		loc := locales[r.Intn(len(locales))]
		stem := loc.family[r.Intn(len(loc.family))]
		trades := firmTrades[loc.country]
		trade := trades[r.Intn(len(trades))]
		forms := legalForms[loc.country][r.Intn(len(legalForms[loc.country]))]
		addr := []hub.Address{{Street: loc.street(r, loc.streets[r.Intn(len(loc.streets))]),
			PostalCode: loc.postcode(r), City: loc.cities[r.Intn(len(loc.cities))], Country: loc.country}}
		if sister != nil {
			loc, addr = sisterLoc, append([]hub.Address(nil), sister.Addresses...)
			stem = strings.Fields(sister.OrganizationName)[0]
			for strings.Contains(sister.OrganizationName, trade) {
				trade = trades[r.Intn(len(trades))]
			}
			sister = nil
		}
		base := hub.Customer{Kind: "organization", OrganizationName: stem + " " + trade + " " + forms[0],
			TaxID: loc.country + digits(r, 9), Addresses: addr}
		if sisters > 0 && r.Float64() < sisters {
			sister, sisterLoc = &base, loc
		}
		copies := 1 + r.Intn(3)
		for c := 0; c < copies; c++ {
			seq++
			cust := clone(base)
			kind := ""
			if c > 0 {
				kind = FirmCorruptions[r.Intn(len(FirmCorruptions))]
				corruptFirm(r, &cust, kind, loc, trade, forms)
			}
			out = append(out, Record{Key: fmt.Sprintf("sys%d/company/%d", c, seq), EntityID: fmt.Sprintf("f%d", p),
				Corruption: kind, Customer: cust})
		}
	}
	return out
}

func corruptFirm(r *rand.Rand, c *hub.Customer, kind string, loc locale, trade string, forms []string) {
	name := c.OrganizationName
	switch kind {
	case "legal_form":
		// Dropped, or written another way.
		form := forms[0]
		alt := ""
		if len(forms) > 1 && r.Intn(2) == 0 {
			alt = " " + forms[1+r.Intn(len(forms)-1)]
		}
		c.OrganizationName = strings.TrimSuffix(name, " "+form) + alt
	case "typo":
		c.OrganizationName = keyboardTypo(r, name)
	case "abbreviation":
		if a, ok := tradeAbbr[trade]; ok {
			c.OrganizationName = strings.Replace(name, trade, a, 1)
		} else {
			c.OrganizationName = strings.Replace(name, " "+trade, " & "+trade, 1)
		}
	case "all_caps":
		c.OrganizationName = strings.ToUpper(name)
	case "moved":
		c.Addresses = []hub.Address{{Street: loc.street(r, loc.streets[r.Intn(len(loc.streets))]),
			PostalCode: loc.postcode(r), City: c.Addresses[0].City, Country: loc.country}}
	case "postcode_digit":
		c.Addresses[0].PostalCode = postcodeDigit(r, c.Addresses[0].PostalCode)
	case "missing_tax_id":
		c.TaxID = ""
	case "tax_id_typo":
		c.TaxID = transpose(r, c.TaxID)
	}
}
