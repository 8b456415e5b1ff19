package quality

import (
	"errors"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub"
)

func TestReadFEBRL(t *testing.T) {
	recs, err := ReadFEBRLFile("testdata/febrl_tiny.csv", FEBRLOptions{System: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("read %d records, want 4", len(recs))
	}
	org, dup := recs[0], recs[1]
	if org.Key != "a/person/rec-1-org" || org.EntityID != "1" || org.Corruption != "" {
		t.Errorf("original: key %q entity %q corruption %q", org.Key, org.EntityID, org.Corruption)
	}
	if dup.EntityID != "1" || dup.Corruption != "febrl_duplicate" {
		t.Errorf("duplicate: entity %q corruption %q", dup.EntityID, dup.Corruption)
	}
	want := hub.Address{Type: "home", Street: "12 harbour street", Street2: "rose cottage", PostalCode: "2999", City: "lindenvale",
		Region: "NSW", Country: "AU"}
	if len(org.Customer.Addresses) != 1 || org.Customer.Addresses[0] != want {
		t.Errorf("address %+v, want %+v", org.Customer.Addresses, want)
	}
	if org.Customer.BirthDate != "1970-03-12" || org.Customer.GivenName != "ada" || org.Customer.FamilyName != "quill" {
		t.Errorf("person %+v", org.Customer)
	}
	if ids := org.Customer.Identifiers; len(ids) != 1 || ids[0] != (hub.PersonID{Scheme: "ssn", Value: "1234567", Country: "AU"}) {
		t.Errorf("identifiers %+v", ids)
	}
	// An impossible date (month 13) is no birth date; an empty address is
	// no address; an empty id no identifier.
	if c := recs[2].Customer; c.BirthDate != "" || len(c.Addresses) != 0 || len(c.Identifiers) != 0 {
		t.Errorf("sparse record %+v", c)
	}
	if a := recs[3].Customer.Addresses[0]; a.Street != "4 kettle close" || a.Street2 != "apt 3" {
		t.Errorf("street %q, street2 %q: want address_2 as the second line", a.Street, a.Street2)
	}

	recs, err = ReadFEBRLFile("testdata/febrl_tiny.csv", FEBRLOptions{WithoutID: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if len(r.Customer.Identifiers) != 0 || !strings.HasPrefix(r.Key, "febrl/person/") {
			t.Errorf("without id: %+v", r)
		}
	}
}

func TestReadFEBRLErrors(t *testing.T) {
	head := strings.Join(FEBRLColumns, ", ") + "\n"
	for _, tc := range []struct{ name, in, want string }{
		{"header", "id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id\n", "header column 1"},
		{"fields", head + "rec-1-org, ada\n", "line 2"},
		{"rec id", head + "person-1, a, b, 1, s, , c, 2000, nsw, 19700101, 1\n", "line 2 field rec_id"},
		{"twice", head + "rec-1-org, a, b, 1, s, , c, 2000, nsw, 19700101, 1\nrec-1-org, a, b, 1, s, , c, 2000, nsw, 19700101, 1\n", "line 3 field rec_id"},
	} {
		_, err := ReadFEBRL(strings.NewReader(tc.in), "x.csv", FEBRLOptions{})
		if err == nil || !strings.Contains(err.Error(), "x.csv") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming x.csv and %q", tc.name, err, tc.want)
		}
		if tc.name != "fields" && !errors.Is(err, ErrFEBRL) {
			t.Errorf("%s: %v is not ErrFEBRL", tc.name, err)
		}
	}
}

// Sample lists a pair the clustering split and a pair it joined wrongly.
func TestSample(t *testing.T) {
	recs := []Record{{Key: "a/p/1", EntityID: "x"}, {Key: "a/p/2", EntityID: "x"}, {Key: "a/p/3", EntityID: "y"}}
	m := Sample(recs, map[string]string{"a/p/1": "g1", "a/p/2": "g2", "a/p/3": "g2"}, 5)
	if len(m.Missed) != 1 || m.Missed[0][0].Key != "a/p/1" || m.Missed[0][1].Key != "a/p/2" {
		t.Errorf("missed %+v", m.Missed)
	}
	if len(m.Merged) != 1 || m.Merged[0][0].Key != "a/p/2" || m.Merged[0][1].Key != "a/p/3" {
		t.Errorf("merged %+v", m.Merged)
	}
}
