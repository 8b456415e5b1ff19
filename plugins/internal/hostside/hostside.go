// Package hostside is how plugins/host reaches the host half of the plugin
// protocol, which plugins/sdk implements beside the plugin half (they share
// the wire code), without the SDK exporting it to connector authors:
// plugins/sdk fills these in when it is initialised, and plugins/host,
// which imports plugins/sdk, uses them at run time. Being internal to
// plugins/, nothing outside plugins/ can import it.
package hostside

import (
	"os/exec"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Names of the two plugins in the go-plugin plugin set.
const (
	PluginSource      = "source"
	PluginDestination = "destination"
)

// BulkChannel is the host's side of one plugin process's bulk channel (see
// plugins/sdk/bulk.go): a socket pair carrying Read batches beside gRPC.
type BulkChannel interface {
	// Prepare hands the plugin's end to cmd, which must not have started.
	Prepare(cmd *exec.Cmd)
	// Started closes the host's copy of the plugin's end once cmd started.
	Started()
	// Attach wires the channel to the dispensed source client; false
	// when it is not one.
	Attach(src any) bool
	Close() error
}

// Filled in by plugins/sdk's init.
var (
	// Handshake is the go-plugin handshake host and plugins share.
	Handshake plugin.HandshakeConfig
	// ClientPlugins is the plugin set for ClientConfig.VersionedPlugins.
	ClientPlugins func() map[int]plugin.PluginSet
	// DialOptions are the gRPC options the host dials a plugin with.
	DialOptions func() []grpc.DialOption
	// NewBulkChannel creates a bulk channel for a plugin process about to
	// be started; an error where the platform has no socket pairs.
	NewBulkChannel func() (BulkChannel, error)
)
