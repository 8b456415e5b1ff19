// Command testplugin is the plugin binary of the host's tests. Like the
// crmhub binary it is started as `testplugin plugin serve NAME`; installed
// as an external plugin it runs without arguments and picks the connector
// from its file name.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/crmhub/crmhub/plugins/host/testdata/testconn"
	"github.com/crmhub/crmhub/plugins/sdk"
)

func main() {
	name := filepath.Base(os.Args[0])
	if len(os.Args) == 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		name = os.Args[3]
	}
	switch name {
	case "crashy", "testplugin":
		sdk.Serve(testconn.Connector)
	case "oldproto":
		serveOldProtocol()
	default:
		fmt.Fprintf(os.Stderr, "testplugin: unknown connector %q\n", name)
		os.Exit(1)
	}
}

// serveOldProtocol speaks only protocol version 0, as a plugin built
// against an older SDK would.
func serveOldProtocol() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{0: {"source": oldPlugin{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

type oldPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (oldPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (oldPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}
