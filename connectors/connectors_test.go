package connectors

import "testing"

func TestBuiltins(t *testing.T) {
	for name, c := range Builtins() {
		if c.Spec.Name != name || c.NewSource == nil || len(c.Spec.Params) == 0 {
			t.Errorf("connector %q is incomplete: %+v", name, c.Spec)
		}
		if c.NewSource() == nil {
			t.Errorf("%s: NewSource returned nil", name)
		}
	}
}
