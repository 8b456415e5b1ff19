package connectors

import (
	"slices"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
)

func TestBuiltins(t *testing.T) {
	for name, c := range Builtins() {
		if c.Spec.Name != name || c.NewSource == nil || len(c.Spec.Params) == 0 {
			t.Errorf("connector %q is incomplete: %+v", name, c.Spec)
		}
		if c.NewSource() == nil {
			t.Errorf("%s: NewSource returned nil", name)
		}
		// The declared kinds and the constructors must agree: the host
		// offers write-back from Kinds and calls NewDestination.
		if dest := slices.Contains(c.Spec.Kinds, sdk.KindDestination); dest != (c.NewDestination != nil) {
			t.Errorf("%s: declares destination %v but NewDestination set %v", name, dest, c.NewDestination != nil)
		} else if dest && c.NewDestination() == nil {
			t.Errorf("%s: NewDestination returned nil", name)
		}
	}
}
