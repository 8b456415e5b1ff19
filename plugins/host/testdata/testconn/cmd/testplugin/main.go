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
	"runtime/pprof"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/crmhub/crmhub/plugins/host/testdata/testconn"
	"github.com/crmhub/crmhub/plugins/internal/hostside"
	"github.com/crmhub/crmhub/plugins/sdk"
)

func main() {
	name := filepath.Base(os.Args[0])
	if len(os.Args) == 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		name = os.Args[3]
	}
	switch name {
	case "crashy", "testplugin":
		stop := profile()
		sdk.Serve(testconn.Connector)
		stop()
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
		HandshakeConfig:  hostside.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{0: {"source": oldPlugin{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

type oldPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (oldPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (oldPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

// profile writes a CPU profile of the plugin side to the file named by
// CRMHUB_TEST_PLUGIN_CPUPROFILE (benchmarks only: the host's benchmark sets
// it to see where the plugin half of the hop spends its time). The profile
// is complete once Serve returns, i.e. when the host closed the plugin
// cleanly.
func profile() (stop func()) {
	path := os.Getenv("CRMHUB_TEST_PLUGIN_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "testplugin: cpu profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "testplugin: cpu profile: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
