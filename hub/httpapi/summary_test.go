package httpapi_test

import (
	"encoding/json"
	"testing"

	"github.com/crmhub/crmhub/hub"
)

// A summary page item says what the whole customer says: the same names,
// first e-mail, phone and address (postal code, city, country) and
// updated_at, for every customer of the page, as a steward and as a
// scope that sees less (service): no summary field is one a scope hides.
func TestSummaryItemsMatchTheWholeCustomer(t *testing.T) {
	f := newAuthFixture(t)
	f.apply(t,
		customer("crm", "c1", 1, hub.Customer{Kind: "person", GivenName: "Anna", FamilyName: "Schmidt", Emails: []string{"a@example.de", "a2@example.de"},
			Phones: []string{"+49301234567"}, Addresses: []hub.Address{{Street: "Hauptstr. 1", PostalCode: "10115", City: "Berlin", Country: "DE"}}}),
		customer("erp", "K1", 2, hub.Customer{Kind: "organization", OrganizationName: "Schmidt & Söhne GmbH", Emails: []string{"info@schmidt.example"},
			Addresses: []hub.Address{{City: "Wien", Country: "AT"}}}),
		customer("svc", "s1", 3, hub.Customer{Kind: "person", FullName: "Schmidtke, Berta", Phones: []string{"+4940555000"}}))
	for _, scope := range []string{"admin", "service"} {
		var page struct {
			Items []map[string]any `json:"items"`
		}
		code, raw := f.do(t, scope, "GET", "/v1/customers?name=schmi", nil)
		if err := json.Unmarshal(raw, &page); err != nil || code != 200 || len(page.Items) != 3 {
			t.Fatalf("%s: summary page %d %s", scope, code, raw)
		}
		for _, it := range page.Items {
			var whole struct {
				ID        string       `json:"id"`
				Customer  hub.Customer `json:"customer"`
				UpdatedAt string       `json:"updated_at"`
			}
			code, raw := f.do(t, scope, "GET", it["href"].(string), nil)
			if err := json.Unmarshal(raw, &whole); err != nil || code != 200 {
				t.Fatalf("%s: %s: %d %s", scope, it["href"], code, raw)
			}
			c := whole.Customer
			want := map[string]any{"id": whole.ID, "kind": c.Kind, "href": "/v1/customers/" + whole.ID, "updated_at": whole.UpdatedAt}
			for k, v := range map[string]string{"given_name": c.GivenName, "family_name": c.FamilyName, "full_name": c.FullName, "organization_name": c.OrganizationName} {
				if v != "" {
					want[k] = v
				}
			}
			if len(c.Emails) > 0 {
				want["email"] = c.Emails[0]
			}
			if len(c.Phones) > 0 {
				want["phone"] = c.Phones[0]
			}
			if len(c.Addresses) > 0 {
				for k, v := range map[string]string{"postal_code": c.Addresses[0].PostalCode, "city": c.Addresses[0].City, "country": c.Addresses[0].Country} {
					if v != "" {
						want[k] = v
					}
				}
			}
			if len(it) != len(want) {
				t.Errorf("%s: summary item %v, want %v", scope, it, want)
				continue
			}
			for k, v := range want {
				if it[k] != v {
					t.Errorf("%s: summary item %s: %v, want %v (item %v)", scope, k, it[k], v, it)
				}
			}
		}
	}
}
