package webhook

import "github.com/crmhub/crmhub/plugins/sdk"

// Connector is the declaration of the "webhook" source.
var Connector = sdk.Connector{
	Spec: sdk.Spec{
		Name:    "webhook",
		Summary: "Receives signed JSON events over HTTP and answers 2xx once they are durable.",
		Version: "v0.1.0",
		Author:  "crmhub",
		Kinds:   []sdk.Kind{sdk.KindSource},
		// Declared once, by the tags of Config.
		Params: sdk.ParamsOf(Config{}),
	},
	NewSource: func() sdk.Source { return &Source{} },
}
