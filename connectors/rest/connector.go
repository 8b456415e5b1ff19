package rest

import "github.com/crmhub/crmhub/plugins/sdk"

// Connector is the declaration of the "rest" source and destination.
var Connector = sdk.Connector{
	Spec: sdk.Spec{
		Name:    "rest",
		Summary: "Pulls JSON records from HTTP APIs with pagination, incremental since-queries, auth, rate limits and retries; writes back by POST/PATCH.",
		Version: "v0.1.0",
		Author:  "crmhub",
		Kinds:   []sdk.Kind{sdk.KindSource, sdk.KindDestination},
		// Declared once, by the tags of the structs source and destination
		// decode into, as one list: the hub validates an instance's
		// settings before it knows whether it is a source or a destination.
		Params: sdk.ParamsOf(Config{}, sdk.WithKeysOf(DestConfig{}), sdk.WithRoles(sdk.KindSource, sdk.KindDestination)),
	},
	NewSource:      func() sdk.Source { return &Source{} },
	NewDestination: func() sdk.Destination { return &Destination{} },
}
