package mapping

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReverseApply(t *testing.T) {
	m, err := Parse("rev.yaml", []byte(`
mapping: rev
version: 1
source: {entity: customer}
target: {system: shop, entity: accounts}
fields:
  ext_ref: golden_id
  name: coalesce(organization_name, full_name)
  city: 'addresses != nil ? addresses[0].city : nil'
  tags: 'map(emails, lower(#))'
`))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Reverse() || m.TargetSystem() != "shop" {
		t.Fatalf("Reverse() = %v, TargetSystem() = %q", m.Reverse(), m.TargetSystem())
	}
	tests := []struct {
		name, in, want string
	}{
		{"person", `{"full_name":"Anna Schmidt","emails":["A@X.DE"],"addresses":[{"city":"Berlin"}]}`, `{"city":"Berlin","ext_ref":"g-1","name":"Anna Schmidt","tags":["a@x.de"]}`},
		{"firm wins over full name", `{"organization_name":"ACME","full_name":"x","emails":[]}`, `{"ext_ref":"g-1","name":"ACME","tags":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := m.Apply(Input{Entity: "customer", SourceID: "g-1", Payload: []byte(tt.in)})
			if err != nil {
				t.Fatal(err)
			}
			if string(out.Data) != tt.want || out.Entity != "accounts" {
				t.Errorf("got %s (%s), want %s", out.Data, out.Entity, tt.want)
			}
		})
	}
}

func TestSetReverseByName(t *testing.T) {
	dir := t.TempDir()
	rev := "version: 1\nsource: {entity: customer}\ntarget: {system: erp, entity: customers}\nfields: {phone: 'phones[0]'}\n"
	for _, n := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(dir, n+".yaml"), []byte("mapping: "+n+"\n"+rev), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := LoadDir(dir)
	if err != nil {
		t.Fatalf("two reverse mappings of the canonical customer must load: %v", err)
	}
	if m, ok := s.ByName("b"); !ok || !m.Reverse() {
		t.Errorf("ByName(b) = %v, %v", m, ok)
	}
	if _, ok := s.Lookup("", "customer"); ok {
		t.Errorf("a reverse mapping must not be found as a source mapping")
	}
}
