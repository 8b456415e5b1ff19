package pipeline

import (
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// A record's operation crosses from the connector contract (sdk) into the
// canonical envelope (hub) as its string (Source.mapRecord): the two sets
// of names must spell the same values.
func TestOperationsAgree(t *testing.T) {
	for _, tt := range []struct {
		hub string
		sdk sdk.Operation
	}{{hub.OpUpsert, sdk.OpUpsert}, {hub.OpDelete, sdk.OpDelete}} {
		if tt.hub != string(tt.sdk) {
			t.Errorf("hub operation %q and sdk operation %q differ", tt.hub, tt.sdk)
		}
	}
}
