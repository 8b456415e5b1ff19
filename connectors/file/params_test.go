package file

import (
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// params is a declaration-only struct, so nothing but this test keeps it
// in step with the structs the source and destination decode into: every
// key they read (nested ones by path) must be declared, or a valid
// setting would be refused at load.
func TestParamsDeclareEveryDecodedKey(t *testing.T) {
	declared := map[string]bool{}
	for _, p := range sdk.Flatten(Connector.Spec.Params) {
		declared[p.Name] = true
	}
	for name, v := range map[string]any{"Config": Config{}, "DestConfig": DestConfig{}} {
		for _, p := range sdk.Flatten(sdk.ParamsOf(v)) {
			if !declared[p.Name] {
				t.Errorf("%s reads %s, which params does not declare", name, p.Name)
			}
		}
	}
}
