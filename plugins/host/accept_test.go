package host_test

import (
	"testing"

	"github.com/crmhub/crmhub/plugins/host/testdata/testconn"
	"github.com/crmhub/crmhub/plugins/sdk"
	"github.com/crmhub/crmhub/plugins/sdk/sdktest"
)

func TestTestConnectorAcceptance(t *testing.T) {
	sdktest.AcceptSource(t, testconn.Connector, sdk.Config{"total": 11}, sdktest.Options{BatchSize: 4})
}
