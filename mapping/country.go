package mapping

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// countryRows: alpha-2|alpha-3|English|German|more aliases (;-separated).
// A small built-in table (Europe and the major trading partners); no
// network at run time.
const countryRows = `AD|AND|Andorra|Andorra|
AE|ARE|United Arab Emirates|Vereinigte Arabische Emirate|UAE;VAE
AL|ALB|Albania|Albanien|
AM|ARM|Armenia|Armenien|
AR|ARG|Argentina|Argentinien|
AT|AUT|Austria|Österreich|Oesterreich;A
AU|AUS|Australia|Australien|
AZ|AZE|Azerbaijan|Aserbaidschan|
BA|BIH|Bosnia and Herzegovina|Bosnien und Herzegowina|Bosnia
BE|BEL|Belgium|Belgien|Belgique;België
BG|BGR|Bulgaria|Bulgarien|
BR|BRA|Brazil|Brasilien|Brasil
BY|BLR|Belarus|Belarus|Weißrussland
CA|CAN|Canada|Kanada|
CH|CHE|Switzerland|Schweiz|Suisse;Svizzera;Confoederatio Helvetica
CL|CHL|Chile|Chile|
CN|CHN|China|China|People's Republic of China;Volksrepublik China
CO|COL|Colombia|Kolumbien|
CY|CYP|Cyprus|Zypern|
CZ|CZE|Czechia|Tschechien|Czech Republic;Tschechische Republik;Česko
DE|DEU|Germany|Deutschland|Federal Republic of Germany;Bundesrepublik Deutschland;BRD;D
DK|DNK|Denmark|Dänemark|Danmark
DZ|DZA|Algeria|Algerien|
EE|EST|Estonia|Estland|
EG|EGY|Egypt|Ägypten|
ES|ESP|Spain|Spanien|España
FI|FIN|Finland|Finnland|Suomi
FR|FRA|France|Frankreich|
GB|GBR|United Kingdom|Vereinigtes Königreich|UK;Great Britain;Großbritannien;England;Scotland;Schottland;Wales;Britain
GE|GEO|Georgia|Georgien|
GR|GRC|Greece|Griechenland|Hellas
HK|HKG|Hong Kong|Hongkong|
HR|HRV|Croatia|Kroatien|Hrvatska
HU|HUN|Hungary|Ungarn|Magyarország
ID|IDN|Indonesia|Indonesien|
IE|IRL|Ireland|Irland|Éire
IL|ISR|Israel|Israel|
IN|IND|India|Indien|
IR|IRN|Iran|Iran|
IS|ISL|Iceland|Island|
IT|ITA|Italy|Italien|Italia
JP|JPN|Japan|Japan|
KR|KOR|South Korea|Südkorea|Korea;Republic of Korea
KZ|KAZ|Kazakhstan|Kasachstan|
LI|LIE|Liechtenstein|Liechtenstein|
LT|LTU|Lithuania|Litauen|
LU|LUX|Luxembourg|Luxemburg|
LV|LVA|Latvia|Lettland|
MA|MAR|Morocco|Marokko|
MC|MCO|Monaco|Monaco|
MD|MDA|Moldova|Moldau|Moldawien
ME|MNE|Montenegro|Montenegro|
MK|MKD|North Macedonia|Nordmazedonien|Macedonia;Mazedonien
MT|MLT|Malta|Malta|
MX|MEX|Mexico|Mexiko|México
MY|MYS|Malaysia|Malaysia|
NG|NGA|Nigeria|Nigeria|
NL|NLD|Netherlands|Niederlande|Holland;Nederland;The Netherlands
NO|NOR|Norway|Norwegen|Norge
NZ|NZL|New Zealand|Neuseeland|
PH|PHL|Philippines|Philippinen|
PK|PAK|Pakistan|Pakistan|
PL|POL|Poland|Polen|Polska
PT|PRT|Portugal|Portugal|
RO|ROU|Romania|Rumänien|România
RS|SRB|Serbia|Serbien|
RU|RUS|Russia|Russland|Russian Federation;Russische Föderation
SA|SAU|Saudi Arabia|Saudi-Arabien|
SE|SWE|Sweden|Schweden|Sverige
SG|SGP|Singapore|Singapur|
SI|SVN|Slovenia|Slowenien|
SK|SVK|Slovakia|Slowakei|
SM|SMR|San Marino|San Marino|
TH|THA|Thailand|Thailand|
TN|TUN|Tunisia|Tunesien|
TR|TUR|Türkiye|Türkei|Turkey
TW|TWN|Taiwan|Taiwan|
UA|UKR|Ukraine|Ukraine|
US|USA|United States|Vereinigte Staaten|United States of America;USA;US;Vereinigte Staaten von Amerika;Amerika;America
VA|VAT|Vatican City|Vatikanstadt|Holy See
VN|VNM|Vietnam|Vietnam|Viet Nam
XK|XKX|Kosovo|Kosovo|
ZA|ZAF|South Africa|Südafrika|`

// isoAlpha2 is every officially assigned ISO 3166-1 alpha-2 code, so a code
// outside the name table is still accepted, and a typo is not.
const isoAlpha2 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
	"NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
	"UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK"

// Country is one row of the built-in country table.
type Country struct{ Alpha2, Alpha3, English, German string }

var (
	countries   []Country
	countryKeys = map[string]string{} // normalized name or code -> alpha-2
)

func init() {
	for _, c := range strings.Fields(isoAlpha2) {
		countryKeys[strings.ToLower(c)] = c
	}
	for _, row := range strings.Split(countryRows, "\n") {
		f := strings.Split(row, "|")
		c := Country{f[0], f[1], f[2], f[3]}
		countries = append(countries, c)
		names := []string{c.Alpha3, c.English, c.German}
		if f[4] != "" {
			names = append(names, strings.Split(f[4], ";")...)
		}
		for _, n := range names {
			countryKeys[countryKey(n)] = c.Alpha2
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

// countryCode resolves a code or a name to ISO 3166-1 alpha-2, or "".
func countryCode(s string) string {
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
