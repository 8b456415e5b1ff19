package schemas

import "testing"

func TestValidate(t *testing.T) {
	tests := []struct {
		name, entity, doc string
		wantPaths         []string
	}{
		{"person ok", "customer", `{"kind":"person","family_name":"Muster","emails":["a@b.de"],"phones":["+49301234567"]}`, nil},
		{"org needs name", "customer", `{"kind":"organization"}`, []string{"organization_name"}},
		{"bad phone", "customer", `{"kind":"person","family_name":"X","phones":["030/1234567"]}`, []string{"phones.0"}},
		{"money is not a float", "payment", `{"document_number":"1","type":"invoice","customer_ref":{"system":"erp","id":"1"},"amount":{"amount":12.5,"currency":"EUR"}}`, []string{"amount.amount"}},
		{"unknown field", "order", `{"order_number":"1","customer_ref":{"system":"erp","id":"1"},"colour":"red"}`, []string{"(root)"}},
		{"second address line (v1.3)", "customer", `{"kind":"person","family_name":"X","addresses":[{"street":"12 Main St","street2":"Apt 4B","postal_code":"10001"}]}`, nil},
		{"second address line is text", "customer", `{"kind":"person","family_name":"X","addresses":[{"street2":4}]}`, []string{"addresses.0.street2"}},
		{"case ok", "service_case", `{"case_number":"C1","customer_ref":{"system":"crm","id":"7"},"status":"open"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Validate(tt.entity, "v1", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if len(v) == 0 && len(tt.wantPaths) > 0 {
				t.Fatalf("want violations at %v, got none", tt.wantPaths)
			}
			if len(tt.wantPaths) == 0 && len(v) > 0 {
				t.Fatalf("want valid, got %v", v)
			}
			for _, p := range tt.wantPaths {
				found := false
				for _, x := range v {
					if x.Path == p {
						found = true
					}
				}
				if !found {
					t.Errorf("no violation at %q in %v", p, v)
				}
			}
		})
	}
	if _, err := Validate("nope", "v1", []byte(`{}`)); err == nil {
		t.Error("unknown schema: want error")
	}
}
