package mapping

import (
	"errors"
	"reflect"
	"testing"
)

const dropsMapping = `mapping: legacy_parties
version: 1
source: {system: legacy, entity: parties}
target: {entity: customer, schema: v1}
fields:
  kind: '"organization"'
  organization_name: trim(name)
  phones[]: phone(phone, country)
  phones[+1]: 'filter(map(split(more_phones ?? "", ";"), phone(#, "DE")), # != nil)'
  emails[]: 'len(mails ?? []) > 0 ? map(mails, email(#)) : nil'
  emails[+1]: emails(more_mails)
  tax_id:
    expr: upper(nospace(vat_id))
    required: true
`

// TestApplyCountsNestedDrops: every value a cleaner leaves out is in
// Output.Dropped with its field and reason, also inside map(), filter()
// and a ternary; a phone with an unknown country is such a drop, not a
// record error.
func TestApplyCountsNestedDrops(t *testing.T) {
	m, err := Parse("legacy.yaml", []byte(dropsMapping))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		payload string
		want    []Dropped
	}{
		{"clean", `{"name":"A","phone":"030 1234567","country":"Deutschland","more_phones":"0171 2345678","mails":["a@b.de"]}`, nil},
		{"unknown country", `{"name":"A","phone":"030 1234567","country":"Atlantis"}`,
			[]Dropped{{"phones[]", "phone", "phone: unknown region"}}},
		{"inside map and filter", `{"name":"A","more_phones":"12;0171 2345678;n/a","mails":["x","a@b.de",""]}`,
			[]Dropped{{"phones[+1]", "phone", "phone: not a valid number for the region"}, {"phones[+1]", "phone", "phone: not a valid number for the region"},
				{"emails[]", "email", "email: not an e-mail address"}}},
		{"not guessed into another country", `{"name":"A","phone":"(2) 283-2951","country":"VE"}`,
			[]Dropped{{"phones[]", "phone", "phone: not a valid number for the region"}}},
		{"some of several addresses", `{"name":"A","more_mails":"a@b.de; junk, n/a"}`,
			[]Dropped{{"emails[+1]", "emails", "emails: not an e-mail address"}, {"emails[+1]", "emails", "emails: not an e-mail address"}}},
		{"missing is not dropped", `{"name":"A","phone":"","country":"Atlantis","mails":[]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := m.Apply(Input{SourceID: "1", Payload: []byte(tt.payload)})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !reflect.DeepEqual(out.Dropped, tt.want) {
				t.Errorf("Dropped = %v, want %v", out.Dropped, tt.want)
			}
			if len(out.Warnings) != len(tt.want) {
				t.Errorf("Warnings = %q, want %d", out.Warnings, len(tt.want))
			}
		})
	}
}

// TestRequiredFieldDeadLetters: a required field whose value a cleaner
// cannot read fails the record, naming the field; the same value in an
// optional field is a warning.
func TestRequiredFieldDeadLetters(t *testing.T) {
	const src = `mapping: req
version: 1
source: {system: legacy, entity: parties}
target: {entity: customer, schema: v1}
fields:
  kind: '"organization"'
  organization_name: trim(name)
  phones[]:
    expr: 'map(split(phone, ";"), phone(#, country))'
    required: true
  addresses[0].country: country(country)
`
	m, err := Parse("req.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, payload, wantField, wantReason string
	}{
		{"readable", `{"name":"A","phone":"030 1234567","country":"DE"}`, "", ""},
		{"bad number", `{"name":"A","phone":"030 1234567;12","country":"DE"}`, "phones[]", "phone: not a valid number for the region (the field is required)"},
		{"unknown region", `{"name":"A","phone":"030 1234567","country":"Atlantis"}`, "phones[]", "phone: unknown region (the field is required)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Apply(Input{SourceID: "1", Payload: []byte(tt.payload)})
			var re *RecordError
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				return
			}
			if !errors.As(err, &re) || re.Field != tt.wantField || re.Reason != tt.wantReason {
				t.Fatalf("Apply error %v, want field %s reason %q", err, tt.wantField, tt.wantReason)
			}
		})
	}
}

func TestRequiredFieldLoadErrors(t *testing.T) {
	for _, body := range []string{
		"  phones[]:\n    required: true\n",
		"  phones[]:\n    expr: phone(phone)\n    required: maybe\n",
		"  phones[]:\n    expr: phone(phone)\n    mandatory: true\n",
	} {
		src := "mapping: x\nversion: 1\nsource: {system: s, entity: e}\ntarget: {entity: customer}\nfields:\n  kind: '\"person\"'\n" + body
		if _, err := Parse("x.yaml", []byte(src)); !errors.Is(err, ErrLoad) {
			t.Errorf("%q: err %v, want a load error", body, err)
		}
	}
}
