package mapping

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSuggestGermanCSV: an unfamiliar German CSV gets a mapping that loads,
// maps every sample record to a schema-valid customer, and finds the fields
// a data engineer would map by hand.
func TestSuggestGermanCSV(t *testing.T) {
	ins, err := ReadInputs("testdata/suggest/kunden.csv", "erp", "kunden", "Kundennr")
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]map[string]any, len(ins))
	for i, in := range ins {
		v, err := decodeJSON(in.Payload)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = v.(map[string]any)
	}
	y, sugg, err := Suggest(recs, SuggestOptions{Target: "customer", System: "erp", Entity: "kunden", Input: "kunden.csv"})
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
		"phones[]":             `Telefon phone(Telefon, coalesce(country(Land), "DE"))`,
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
	m, err := LoadFile(mf)
	if err != nil {
		t.Fatalf("suggested mapping does not load: %v", err)
	}
	rep, err := RunTest(context.Background(), m, "testdata/suggest/kunden.csv", TestOptions{IDField: "Kundennr"})
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
	_, sugg, err := Suggest(recs, SuggestOptions{Target: "customer", System: "erp", Entity: "kunden"})
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
