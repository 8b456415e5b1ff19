package suggest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/mapping/mappingtest"
)

// TestSuggestGermanCSV: an unfamiliar German CSV gets a mapping that loads,
// maps every sample record to a schema-valid customer, and finds the fields
// a data engineer would map by hand.
func TestSuggestGermanCSV(t *testing.T) {
	ins, err := mapping.ReadInputs("../testdata/suggest/kunden.csv", "erp", "kunden", "Kundennr")
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]map[string]any, len(ins))
	for i, in := range ins {
		v, err := mapping.DecodeSample(in.Payload)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = v
	}
	y, sugg, err := Mapping(recs, Options{Target: "customer", System: "erp", Entity: "kunden", Input: "kunden.csv"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", y)
	got := map[string]string{}
	for _, s := range sugg {
		got[s.Target] = s.Column + " " + s.Expr
		if s.Confidence <= 0 || s.Confidence > 1 {
			t.Errorf("%s: confidence %v", s.Target, s.Confidence)
		}
	}
	for target, want := range map[string]string{
		"emails[]":             `E-Mail email(record["E-Mail"])`,
		"phones[]":             `Telefon phone(Telefon, country(Land))`,
		"given_name":           "Vorname collapse(Vorname)",
		"family_name":          "Nachname collapse(Nachname)",
		"organization_name":    "Firma collapse(Firma)",
		"addresses[0].country": "Land country(Land)",
		"addresses[0].city":    "Ort collapse(Ort)",
		"tax_id":               `USt-IdNr upper(nospace(record["USt-IdNr"]))`,
		"credit_limit":         `Kreditlimit money(Kreditlimit, "EUR", "de")`,
		"created_at":           `Angelegt am timestamp(record["Angelegt am"], "02.01.2006", "Europe/Berlin")`,
		"consent.newsletter":   "Newsletter bool(Newsletter)",
		"segment":              "Branche collapse(Branche)",
	} {
		if got[target] != want {
			t.Errorf("%s = %q, want %q", target, got[target], want)
		}
	}
	dir := t.TempDir()
	mf := filepath.Join(dir, "kunden.yaml")
	if err := os.WriteFile(mf, y, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := mapping.LoadFile(mf)
	if err != nil {
		t.Fatalf("suggested mapping does not load: %v", err)
	}
	rep, err := mappingtest.Run(context.Background(), m, "../testdata/suggest/kunden.csv", mappingtest.Options{IDField: "Kundennr"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mapped != len(ins) {
		t.Errorf("mapped %d of %d:\n%s", rep.Mapped, len(ins), rep.Results)
	}
	if !strings.Contains(string(rep.Results[0]), `"credit_limit":{"amount":"50000.00","currency":"EUR"}`) {
		t.Errorf("first record: %s", rep.Results[0])
	}
}

func TestSuggestGender(t *testing.T) {
	recs := []map[string]any{{"Kundennr": "1", "Anrede": "Herr", "Nachname": "Meier"}, {"Kundennr": "2", "Anrede": "Frau", "Nachname": "Schmitt"}}
	_, sugg, err := Mapping(recs, Options{Target: "customer", System: "erp", Entity: "kunden"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sugg {
		if s.Column == "Anrede" {
			if s.Target != "gender" || !strings.HasPrefix(s.Expr, "gender(") {
				t.Fatalf("Anrede suggested as %s = %s", s.Target, s.Expr)
			}
			return
		}
	}
	t.Fatalf("no suggestion for Anrede: %+v", sugg)
}

// TestSuggestPhone: suggest never proposes a fax column as the phone, and
// never adds a region that the data was not read in: with a country column
// each number is read with its row's country and nothing else, so the
// Venezuelan "(2) 283-2951" cannot become the German +4922832951.
func TestSuggestPhone(t *testing.T) {
	rows := func(cols []string, vals ...[]string) []map[string]any {
		var out []map[string]any
		for i, v := range vals {
			r := map[string]any{"id": strconv.Itoa(i)}
			for j, c := range cols {
				if v[j] != "" {
					r[c] = v[j]
				}
			}
			out = append(out, r)
		}
		return out
	}
	tests := []struct {
		name      string
		recs      []map[string]any
		wantPhone string // column and expression of phones[], "" for none
		noColumn  string // a column that must not be mapped as a phone
	}{
		{"fax beside phone", rows([]string{"phone", "fax", "country"},
			[]string{"030 1234567", "030 1234568", "DE"}, []string{"089 123456", "089 123457", "DE"}, []string{"0171 2345678", "0221 998877", "DE"}),
			`phone phone(phone, country(country))`, "fax"},
		{"telefax only", rows([]string{"Telefax", "Faxnummer", "fax_number"},
			[]string{"030 1234567", "030 1234568", "030 1234569"}, []string{"089 123456", "089 123457", "089 123458"}),
			"", "Telefax"},
		{"row's country, no fallback", rows([]string{"phone", "country"},
			[]string{"0212 283 2951", "Venezuela"}, []string{"(2) 283-2951", "Venezuela"}, []string{"030 1234567", "Deutschland"},
			[]string{"0171 2345678", "Germany"}, []string{"0221 998877", "DE"}),
			`phone phone(phone, country(country))`, ""},
		{"international numbers need no region", rows([]string{"tel"},
			[]string{"+58 212 283 2951"}, []string{"+49 30 1234567"}, []string{"+1 202 555 0143"}),
			`tel phone(tel)`, ""},
		{"one region, read in it", rows([]string{"telefon"},
			[]string{"030 1234567"}, []string{"0171 2345678"}, []string{"0221 998877"}),
			`telefon phone(telefon, "DE")`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y, sugg, err := Mapping(tt.recs, Options{Target: "customer", System: "legacy", Entity: "parties"})
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, s := range sugg {
				if s.Target == "phones[]" && got == "" {
					got = s.Column + " " + s.Expr
				}
				if tt.noColumn != "" && strings.Contains(strings.ToLower(s.Column), "fax") {
					t.Errorf("fax column %s suggested as %s = %s", s.Column, s.Target, s.Expr)
				}
			}
			if got != tt.wantPhone {
				t.Errorf("phones[] = %q, want %q\n%s", got, tt.wantPhone, y)
			}
			if strings.Contains(string(y), "coalesce(country(") {
				t.Errorf("a fallback region was added:\n%s", y)
			}
		})
	}
}

// People's columns: a birth date in any common spelling is read by
// birth_date(), not taken for a timestamp; person ids get their scheme.
func TestSuggestPersonColumns(t *testing.T) {
	recs := []map[string]any{
		{"Vorname": "Anna", "Nachname": "Berg", "Geburtsdatum": "02.01.1990", "SSN": "123-45-6789", "Passport_Number": "C01X00T47"},
		{"Vorname": "Hans", "Nachname": "Kurz", "Geburtsdatum": "1985", "SSN": "987-65-4321", "Passport_Number": "C02X11T48"},
		{"Vorname": "Eva", "Nachname": "Lang", "Geburtsdatum": "1970-12-31", "SSN": "", "Passport_Number": ""},
	}
	_, sugg, err := Mapping(recs, Options{Target: "customer", System: "hr", Entity: "people"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, s := range sugg {
		got[s.Target] = append(got[s.Target], s.Column+" "+s.Expr)
	}
	if b := got["birth_date"]; len(b) != 1 || b[0] != "Geburtsdatum birth_date(Geburtsdatum)" {
		t.Errorf("birth_date: %v", b)
	}
	ids := strings.Join(got["identifiers[]"], "; ")
	if !strings.Contains(ids, `SSN person_id("ssn", SSN)`) {
		t.Errorf("identifiers: %q, want the SSN column as an ssn", ids)
	}
}

// Two address lines: the first is the street, the second (FEBRL's
// address_2, a CRM's "Address Line 2", German "Adresszusatz") is street2,
// not a second candidate for the street left in custom.
func TestSuggestSecondAddressLine(t *testing.T) {
	for _, cols := range [][2]string{{"address_1", "address_2"}, {"Address Line 1", "Address Line 2"}, {"Strasse", "Adresszusatz"}} {
		recs := []map[string]any{
			{"id": "1", cols[0]: "12 Stanley Street", cols[1]: "Miami Lodge", "postcode": "4223"},
			{"id": "2", cols[0]: "Hauptstr. 5", cols[1]: "c/o Meier", "postcode": "10115"},
		}
		_, sugg, err := Mapping(recs, Options{Target: "customer", System: "crm", Entity: "people"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, s := range sugg {
			got[s.Target] = s.Column
		}
		if got["addresses[0].street"] != cols[0] || got["addresses[0].street2"] != cols[1] {
			t.Errorf("%v: street from %q, street2 from %q", cols, got["addresses[0].street"], got["addresses[0].street2"])
		}
	}
}

// A column of slashed birth dates is read in the order its own values
// show (12/31/1990 says mdy), so the ambiguous ones (1/2/1990) are read
// too; given and family name in two columns get the full name as well, so
// a person without a family name is kept.
func TestSuggestDateOrderAndFullName(t *testing.T) {
	for _, tc := range []struct {
		dates [3]string
		want  string
	}{
		{[3]string{"12/31/1990", "1/2/1985", "03/04/1970"}, `birth_date(dob, "mdy")`},
		{[3]string{"31/12/1990", "1/2/1985", "03/04/1970"}, `birth_date(dob, "dmy")`},
		{[3]string{"1990-12-31", "1/2/1985", "13/04/1970"}, `birth_date(dob, "dmy")`},
		{[3]string{"31/12/1990", "12/31/1985", "1990-01-02"}, `birth_date(dob)`}, // the values disagree
	} {
		recs := []map[string]any{
			{"first_name": "Anna", "last_name": "Berg", "dob": tc.dates[0]},
			{"first_name": "Hans", "last_name": "", "dob": tc.dates[1]},
			{"first_name": "Eva", "last_name": "Lang", "dob": tc.dates[2]},
		}
		y, sugg, err := Mapping(recs, Options{Target: "customer", System: "crm", Entity: "people"})
		if err != nil {
			t.Fatal(err)
		}
		got := exprsOf(sugg)
		if got["birth_date"] != tc.want {
			t.Errorf("%v: birth_date %q, want %q", tc.dates, got["birth_date"], tc.want)
		}
		if want := `join(" ", collapse(first_name), collapse(last_name))`; got["full_name"] != want {
			t.Errorf("full_name %q, want %q", got["full_name"], want)
		}
		var c struct {
			FullName  string `json:"full_name"`
			BirthDate string `json:"birth_date"`
		}
		if err := json.Unmarshal(applySuggested(t, y, recs[1]), &c); err != nil {
			t.Fatal(err)
		}
		if c.FullName != "Hans" || tc.want != "birth_date(dob)" && c.BirthDate != "1985-01-02" && c.BirthDate != "1985-02-01" {
			t.Errorf("Hans: %+v, want the full name Hans and 1/2/1985 read", c)
		}
	}
}

// A person's name in one column is split, and kept whole as the full
// name: a name of one word gives no family name, and the schema wants one
// or a full name.
func TestSuggestOneNameColumnKeepsFullName(t *testing.T) {
	recs := []map[string]any{
		{"name": "Mr. John Smith", "city": "Leeds"},
		{"name": "SMITH, Anna", "city": "York"},
		{"name": "Courtney", "city": "Hull"},
	}
	y, sugg, err := Mapping(recs, Options{Target: "customer", System: "crm", Entity: "people"})
	if err != nil {
		t.Fatal(err)
	}
	got := exprsOf(sugg)
	if got["full_name"] != "collapse(name)" || got["family_name"] != "family_name(name)" || got["given_name"] != "given_name(name)" {
		t.Errorf("suggested %v, want the name split and kept whole", got)
	}
	if data := applySuggested(t, y, recs[2]); !strings.Contains(string(data), `"full_name":"Courtney"`) {
		t.Errorf("a person of one name: %s", data)
	}
}

// exprsOf is each suggested target's expression.
func exprsOf(sugg []Suggestion) map[string]string {
	got := map[string]string{}
	for _, s := range sugg {
		got[s.Target] = s.Expr
	}
	return got
}

// applySuggested loads a suggested mapping and maps one record with it:
// the canonical JSON, or the test fails where the mapping does not load or
// the record is rejected.
func applySuggested(t *testing.T, y []byte, rec map[string]any) []byte {
	t.Helper()
	m, err := mapping.Parse("suggested", y)
	if err != nil {
		t.Fatalf("the suggestion does not load: %v\n%s", err, y)
	}
	payload, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Apply(mapping.Input{System: "crm", Entity: "people", SourceID: "1", Payload: payload})
	if err != nil {
		t.Fatalf("%v rejected: %v", rec, err)
	}
	return out.Data
}
