package demo

// Name and place lists. Every string must be encodable in ISO-8859-1: the
// finance export is Latin-1.

var givenNames = []string{
	"Hans", "Jürgen", "Klaus", "Peter", "Michael", "Thomas", "Andreas", "Stefan", "Wolfgang", "Günter",
	"Uwe", "Frank", "Matthias", "Jörg", "Bernd", "Dieter", "Rüdiger", "Sören", "Björn", "Lukas",
	"Felix", "Maximilian", "Jonas", "Tobias", "Florian", "Sebastian", "Alexander", "Markus", "Christian", "Martin",
	"Anna", "Maria", "Ursula", "Monika", "Petra", "Sabine", "Claudia", "Susanne", "Andrea", "Birgit",
	"Jürgen", "Käthe", "Hannelore", "Gisela", "Brigitte", "Renate", "Jutta", "Sophie", "Lea", "Hanna",
	"Lena", "Julia", "Katharina", "Laura", "Sarah", "Annika", "Mia", "Zoë", "Chloé", "René",
	"André", "Jürg", "Urs", "Beat", "Reto", "Ueli", "Vreni", "Sepp", "Franz", "Ölcan",
}

var familyNames = []string{
	"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
	"Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
	"Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Schmitz", "Krause", "Meier",
	"Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann", "König", "Walter", "Mayer", "Huber",
	"Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller", "Weiß", "Jung", "Hahn", "Schubert",
	"Vogel", "Friedrich", "Keller", "Günther", "Frank", "Berger", "Winkler", "Roth", "Beck", "Lorenz",
	"Baumann", "Franke", "Albrecht", "Schuster", "Simon", "Ludwig", "Böhm", "Winter", "Kraus", "Martin",
	"Schumacher", "Krämer", "Vogt", "Stein", "Jäger", "Otto", "Sommer", "Groß", "Seidel", "Heinrich",
	"Brandt", "Haas", "Schreiber", "Graf", "Schulte", "Dietrich", "Ziegler", "Kuhn", "Kühn", "Pohl",
	"Engel", "Horn", "Busch", "Bergmann", "Thomas", "Voigt", "Sauer", "Arnold", "Wolff", "Pfeiffer",
	"Gruber", "Pichler", "Steiner", "Moser", "Mayrhofer", "Leitner", "Brunner", "Egger", "Aigner", "Wimmer",
	"Gerber", "Brändli", "Lüthi", "Zürcher", "Bühler", "Frei", "Baumgartner", "Rüegg", "Käser", "Nüssli",
	"Dörfler", "Großmann", "Weißenborn", "Öztürk", "Yilmaz", "Kowalski", "Nowak", "Rossi", "Søndergaard", "Straßer",
}

var firmStems = []string{
	"Maschinenbau", "Elektrotechnik", "Metallbau", "Holzbau", "Autohaus", "Bäckerei", "Druckerei", "Logistik",
	"Haustechnik", "Stahlbau", "Feinmechanik", "Gartenbau", "Sanitär", "Kunststofftechnik", "Baustoffe",
	"Medizintechnik", "Büroservice", "Getränke", "Möbelwerkstätten", "Präzisionsteile", "Energietechnik",
	"Software", "Verpackungen", "Landtechnik", "Kältetechnik", "Brauerei", "Weinkellerei", "Apotheke",
}

var legalForms = map[string][]string{
	"DE": {"GmbH", "GmbH & Co. KG", "AG", "KG", "e.K.", "OHG", "UG (haftungsbeschränkt)"},
	"AT": {"GmbH", "Ges.m.b.H.", "KG", "AG", "e.U."},
	"CH": {"AG", "GmbH", "Sàrl"},
}

type place struct {
	city    string
	zipBase int // first postal code of the city
	zipSpan int
	ndc     string // national destination code (area code) of the landline
	subLen  int    // digits of a subscriber number
}

var places = map[string][]place{
	"DE": {
		{"Berlin", 10115, 2000, "30", 8},
		{"Hamburg", 20095, 2000, "40", 8},
		{"München", 80331, 1600, "89", 8},
		{"Köln", 50667, 1200, "221", 7},
		{"Frankfurt am Main", 60306, 700, "69", 8},
		{"Stuttgart", 70173, 500, "711", 7},
		{"Düsseldorf", 40210, 500, "211", 7},
		{"Leipzig", 4103, 300, "341", 7},
		{"Dresden", 1067, 300, "351", 7},
		{"Hannover", 30159, 500, "511", 7},
		{"Nürnberg", 90402, 500, "911", 7},
		{"Bonn", 53111, 120, "228", 7},
		{"Würzburg", 97070, 30, "931", 6},
		{"Lübeck", 23552, 20, "451", 6},
		{"Göttingen", 37073, 10, "551", 6},
		{"Fürth", 90762, 10, "911", 7},
	},
	"AT": {
		{"Wien", 1010, 230, "1", 7},
		{"Graz", 8010, 50, "316", 6},
		{"Linz", 4020, 20, "732", 6},
		{"Salzburg", 5020, 20, "662", 6},
		{"Innsbruck", 6020, 10, "512", 6},
	},
	"CH": {
		{"Zürich", 8001, 60, "44", 7},
		{"Bern", 3001, 30, "31", 7},
		{"Basel", 4001, 50, "61", 7},
		{"Luzern", 6003, 10, "41", 7},
		{"St. Gallen", 9000, 15, "71", 7},
	},
}

// mobileNDC are mobile prefixes with their subscriber length.
var mobileNDC = map[string][]struct {
	ndc    string
	subLen int
}{
	"DE": {{"151", 8}, {"152", 8}, {"157", 8}, {"160", 7}, {"170", 7}, {"171", 7}, {"172", 7}, {"176", 8}, {"177", 7}, {"179", 7}},
	"AT": {{"664", 7}, {"660", 7}, {"676", 7}, {"699", 8}},
	"CH": {{"79", 7}, {"78", 7}, {"76", 7}},
}

var countryCode = map[string]string{"DE": "49", "AT": "43", "CH": "41"}

// countrySpellings are what the ERP's free-text country field holds.
var erpCountry = map[string][]string{
	"DE": {"DE", "Deutschland", "Germany", "DE", "D"},
	"AT": {"AT", "Österreich", "Austria"},
	"CH": {"CH", "Schweiz", "Switzerland"},
}

// financeCountry are the German names the finance system writes.
var financeCountry = map[string]string{"DE": "Deutschland", "AT": "Österreich", "CH": "Schweiz"}

var streets = []string{
	"Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenstraße", "Dorfstraße", "Bergstraße", "Lindenstraße",
	"Kirchstraße", "Waldstraße", "Ringstraße", "Mühlenweg", "Am Markt", "Goethestraße", "Schillerstraße",
	"Industriestraße", "Rosenweg", "Birkenallee", "Friedrichstraße", "Königsallee", "Lerchenfelder Gürtel",
	"Bahnhofplatz", "Seestrasse", "Gewerbepark Süd", "Marktplatz", "Eichendorffstraße", "Grüner Weg",
}

var mailProviders = map[string][]string{
	"DE": {"gmx.de", "web.de", "t-online.de", "gmail.com", "posteo.de", "freenet.de", "outlook.de", "icloud.com"},
	"AT": {"gmx.at", "aon.at", "chello.at", "gmail.com", "a1.net"},
	"CH": {"bluewin.ch", "gmx.ch", "sunrise.ch", "gmail.com", "hispeed.ch"},
}

var skus = []struct {
	sku, desc, price string
}{
	{"SCH-M8-100", "Sechskantschraube M8x40 verzinkt (100 Stk.)", "12.90"},
	{"DUE-10-50", "Dübel 10 mm (50 Stk.)", "6.49"},
	{"BOH-HSS-SET", "HSS-Bohrer-Satz 19-tlg.", "34.95"},
	{"AKK-18V-5AH", "Akku 18 V 5,0 Ah", "89.00"},
	{"WIN-125-INOX", "Trennscheibe 125 mm Edelstahl", "2.35"},
	{"KAB-NYM-3X15", "Mantelleitung NYM-J 3x1,5 (50 m)", "54.80"},
	{"LED-PAN-6060", "LED-Panel 60x60 36 W", "47.50"},
	{"HAN-SCHUTZ-L", "Schutzhandschuhe Größe L", "3.99"},
	{"SIL-TRANS-310", "Silikon transparent 310 ml", "5.75"},
	{"ROH-CU-15", "Kupferrohr 15 mm (5 m)", "38.40"},
	{"PAL-EURO", "Europalette (Pfand)", "15.00"},
	{"SERV-STD", "Servicetechniker (Stunde)", "78.00"},
	{"FRA-PAUSCH", "Frachtpauschale", "9.90"},
	{"MAS-FRAES-P", "Präzisionsfräse PF-300", "4899.00"},
	{"OEL-HYD-20L", "Hydrauliköl HLP 46 (20 l)", "72.30"},
}

var ticketSubjects = []string{
	"Rechnung fehlt", "Lieferung unvollständig", "Falsche Menge geliefert", "Rückfrage zum Angebot",
	"Reklamation: Ware beschädigt", "Adressänderung", "Zugang zum Kundenportal", "Invoice question",
	"Wartungstermin vereinbaren", "Gerät startet nicht", "Gutschrift angefordert", "Lieferzeit?",
	"Änderung der Bankverbindung", "Ersatzteil gesucht", "Kündigung Wartungsvertrag", "Delivery delayed",
}
