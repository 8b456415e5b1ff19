package connectors

import (
	"context"
	"slices"
	"strings"
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
		} else if dest {
			d := c.NewDestination()
			if d == nil {
				t.Fatalf("%s: NewDestination returned nil", name)
			}
			// An empty config is refused by Configure, naming what is
			// missing, and Teardown is safe before Open.
			if err := d.Configure(context.Background(), sdk.Config{}); err == nil || !strings.Contains(err.Error(), "required") {
				t.Errorf("%s: empty destination config: %v", name, err)
			}
			if err := d.Teardown(context.Background()); err != nil {
				t.Errorf("%s: Teardown before Open: %v", name, err)
			}
			if _, err := d.Write(context.Background(), nil); err == nil {
				t.Errorf("%s: Write before Open must fail", name)
			}
		}
	}
}
