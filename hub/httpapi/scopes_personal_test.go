package httpapi

import (
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/auth"
)

func TestPersonalFieldsByScope(t *testing.T) {
	tests := []struct {
		scopes []auth.Scope
		sees   bool
	}{
		{[]auth.Scope{auth.ScopeSales}, false},
		{[]auth.Scope{auth.ScopeFinance}, false},
		{[]auth.Scope{auth.ScopeService}, false},
		{[]auth.Scope{auth.ScopeSteward}, true},
		{[]auth.Scope{auth.ScopeAdmin}, true},
		{[]auth.Scope{auth.ScopeSales, auth.ScopeSteward}, true},
	}
	for _, tc := range tests {
		g := hub.GoldenCustomer{
			Customer: hub.Customer{BirthDate: "1990-01-02", Gender: "female", Identifiers: []hub.PersonID{{Scheme: "nino", Value: "AB123456C"}}},
			Sources:  []hub.SourceRecordRef{{Customer: hub.Customer{BirthDate: "1990-01-02", Gender: "female"}}},
			Lineage:  map[string]hub.FieldLineage{"birth_date": {}, "gender": {}, "identifiers": {}, "given_name": {}},
		}
		visibilityOf(tc.scopes).redactGolden(&g)
		got := g.Customer.BirthDate != "" && g.Customer.Gender != "" && len(g.Customer.Identifiers) == 1 &&
			g.Sources[0].Customer.BirthDate != ""
		if got != tc.sees {
			t.Errorf("%v: sees personal fields %v, want %v", tc.scopes, got, tc.sees)
		}
		if _, ok := g.Lineage["birth_date"]; ok != tc.sees {
			t.Errorf("%v: lineage of birth_date present %v, want %v", tc.scopes, ok, tc.sees)
		}
		if _, ok := g.Lineage["given_name"]; !ok {
			t.Errorf("%v: given_name lineage dropped", tc.scopes)
		}
	}
}
