package connectors

import (
	"github.com/crmhub/crmhub/connectors/file"
	"github.com/crmhub/crmhub/connectors/rest"
	sqlconn "github.com/crmhub/crmhub/connectors/sql"
	"github.com/crmhub/crmhub/connectors/webhook"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// Builtins returns the built-in connectors by their registered name.
func Builtins() map[string]sdk.Connector {
	all := []sdk.Connector{sqlconn.Connector, file.Connector, rest.Connector, webhook.Connector}
	m := make(map[string]sdk.Connector, len(all))
	for _, c := range all {
		m[c.Spec.Name] = c
	}
	return m
}
