package funcs

import (
	_ "embed"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
	"golang.org/x/text/unicode/norm"
)

// countryAliases: alpha-2, then spellings sources use that neither CLDR
// nor the official names hold (abbreviations, old names, endonyms),
// ;-separated. They win over every other name.
const countryAliases = `AE|UAE;VAE;EAU
AT|Oesterreich;A
BA|Bosnia
BE|België;Belgie
BO|Bolivia (Plurinational State of)
BR|Brasil
BY|Weißrussland;Weissrussland;Byelorussia
CD|DR Congo;DRC;Congo-Kinshasa;Congo (Kinshasa);Zaire;Kongo (Dem. Rep.)
CG|Congo-Brazzaville;Congo (Brazzaville)
CH|Svizzera;Svizra;Confoederatio Helvetica
CI|Ivory Coast;Elfenbeinküste;Côte d'Ivoire
CN|People's Republic of China;Volksrepublik China;PRC
CZ|Czech Republic;Tschechische Republik;Česko;Cesko
DE|BRD;D;Bundesrepublik;West Germany;Westdeutschland
DK|Danmark
ES|España;Espana
FI|Suomi
GB|UK;U.K.;Great Britain;Grossbritannien;Großbritannien;Grande-Bretagne;Gran Bretaña;England;Scotland;Schottland;Wales;Northern Ireland;Nordirland;Britain
GR|Hellas;Ellada
HR|Hrvatska
HU|Magyarország;Magyarorszag
IE|Éire;Eire
IR|Persia;Iran (Islamic Republic of)
IT|Italia
KR|Korea;Republic of Korea;Korea, Republic of;Korea (South)
KP|Korea (North);Korea, Democratic People's Republic of;DPRK
LA|Laos;Lao PDR
MD|Moldawien;Moldova, Republic of
MK|Macedonia;Mazedonien;FYROM;Republic of North Macedonia
MM|Burma;Birma
MX|México
NL|Holland;Nederland;The Netherlands;Pays-Bas
NO|Norge
PL|Polska
PS|Palestine;Palästina;State of Palestine
RO|România
RU|Russian Federation;Russische Föderation;Rossija
SE|Sverige
SY|Syrian Arab Republic
SZ|Swaziland;Eswatini;Swasiland
TR|Turkey;Türkiye;Turkiye
TW|Republic of China;Taiwan, Province of China
TZ|Tanzania, United Republic of
US|USA;U.S.;U.S.A.;US;United States of America;Vereinigte Staaten von Amerika;Amerika;America;Estados Unidos de América;EEUU;EE.UU.
VA|Vatican;Vatican City;Vatikanstadt;Holy See
VE|Venezuela (Bolivarian Republic of);Venezuela, Bolivarian Republic of
VN|Viet Nam
XK|Kosova`

// countriesOfficial is generated once from github.com/pariz/gountries
// v0.1.6 (see its header): official names in four languages. The common
// names come from CLDR through golang.org/x/text, which is maintained and
// already a dependency; its names are complete where gountries' are not.
//
//go:embed countries_official.tsv
var countriesOfficial string

// isoAlpha2 is every officially assigned ISO 3166-1 alpha-2 code (and XK,
// Kosovo's user-assigned code that sources use). A code outside it is not
// a country, so a typo is not accepted.
const isoAlpha2 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
	"NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
	"UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK"

// Country is one row of the built-in country table: the codes and the
// common names in English, German, French and Spanish (CLDR).
type Country struct{ Alpha2, Alpha3, English, German, French, Spanish string }

var (
	countries   []Country
	countryKeys = map[string]string{} // normalized name or code -> alpha-2
)

func init() {
	official := map[string][]string{}
	for _, line := range strings.Split(countriesOfficial, "\n") {
		code, names, ok := strings.Cut(line, "\t")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		official[code] = strings.Split(names, ";")
	}
	// Priority: codes, hand aliases, CLDR common names, official names.
	// A name two countries share keeps its first owner, so "Guinea" stays
	// GN even though a longer official name would fold near it.
	set := func(name, code string) {
		if k := countryKey(name); k != "" {
			if _, taken := countryKeys[k]; !taken {
				countryKeys[k] = code
			}
		}
	}
	codes := strings.Fields(isoAlpha2)
	for _, c := range codes {
		countryKeys[strings.ToLower(c)] = c
	}
	for _, row := range strings.Split(countryAliases, "\n") {
		code, names, _ := strings.Cut(row, "|")
		for _, n := range strings.Split(names, ";") {
			set(n, code)
		}
	}
	for _, c := range codes {
		reg, err := language.ParseRegion(c)
		if err != nil {
			panic("funcs: country table: " + c + ": " + err.Error())
		}
		row := Country{Alpha2: c, Alpha3: reg.ISO3(),
			English: display.English.Regions().Name(reg), German: display.German.Regions().Name(reg),
			French: display.French.Regions().Name(reg), Spanish: display.Spanish.Regions().Name(reg)}
		if c == "XK" {
			row.Alpha3 = "XKX" // the code the EU and IMF use; CLDR has none
		}
		countries = append(countries, row)
		set(row.Alpha3, c)
		for _, n := range []string{row.English, row.German, row.French, row.Spanish} {
			set(n, c)
		}
	}
	for _, c := range codes {
		for _, n := range official[c] {
			set(n, c)
		}
	}
}

var countryFold = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", ".", "", "-", " ", "'", "", "’", "")

// countryKey folds case, accents, dots and spacing so "Österreich",
// "oesterreich" and "U.S.A." find their rows.
func countryKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = countryFold.Replace(s)
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if r >= 0x300 && r <= 0x36f { // combining accents
			continue
		}
		b.WriteRune(r)
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// CountryCode resolves a code or a name to ISO 3166-1 alpha-2, or "".
func CountryCode(s string) string {
	// Sources repeat a handful of spellings; folding them (NFD, replacer)
	// costs more than a cache lookup.
	if c, ok := countryCache.get([]byte(s)); ok {
		return c
	}
	c := countryCodeUncached(s)
	if len(s) <= 64 {
		countryCache.put([]byte(s), c)
	}
	return c
}

var countryCache = newLRUCache(4, 1024)

func countryCodeUncached(s string) string {
	k := countryKey(s)
	if c, ok := countryKeys[k]; ok {
		return c
	}
	if strings.HasPrefix(k, "the ") {
		return countryKeys[k[4:]]
	}
	return ""
}

// Countries returns the built-in country table.
func Countries() []Country { return append([]Country(nil), countries...) }
