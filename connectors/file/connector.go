package file

import "github.com/crmhub/crmhub/plugins/sdk"

// Connector is the declaration of the "file" source and destination.
var Connector = sdk.Connector{
	Spec: sdk.Spec{
		Name:    "file",
		Summary: "Reads CSV, fixed-width and JSON-lines exports dropped into a directory; writes CSV exports.",
		Version: "v0.1.0",
		Author:  "crmhub",
		Kinds:   []sdk.Kind{sdk.KindSource, sdk.KindDestination},
		// Declared once, by the tags of the structs source and destination
		// decode into, as one list: the hub validates an instance's
		// settings before it knows whether it is a source or a destination.
		Params: sdk.ParamsOf(Config{}, sdk.WithKeysOf(DestConfig{}), sdk.WithRoles(sdk.KindSource, sdk.KindDestination), sdk.WithOneOf("files.encoding", encodingNames...)),
	},
	NewSource:      func() sdk.Source { return &Source{} },
	NewDestination: func() sdk.Destination { return &Destination{} },
}
