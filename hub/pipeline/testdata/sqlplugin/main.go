// Command sqlplugin serves the built-in sql connector as a plugin process,
// started like the crmhub binary (`sqlplugin plugin serve sql`), so the
// reconciliation test goes through the real gRPC path.
package main

import (
	sqlconn "github.com/crmhub/crmhub/connectors/sql"
	"github.com/crmhub/crmhub/plugins/sdk"
)

func main() { sdk.Serve(sqlconn.Connector) }
