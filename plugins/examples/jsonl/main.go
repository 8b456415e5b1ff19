// Command jsonl is an example third-party crmhub connector: it reads
// customers from a JSON-lines file. Build it, put the binary and a
// manifest.yaml into the hub's plugins directory, and configure an instance
// of connector "jsonl". See README.md.
package main

import "github.com/crmhub/crmhub/plugins/sdk"

func main() { sdk.Serve(Connector) }
