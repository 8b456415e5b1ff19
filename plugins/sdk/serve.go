package sdk

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/crmhub/crmhub/plugins/internal/hostside"
)

// ProtocolVersion is the plugin protocol this SDK speaks (the proto package
// crmhub.plugin.v1). A host refuses a plugin that speaks no version it knows,
// with an error naming both, instead of hanging.
const ProtocolVersion = 1

// handshake is shared by host and plugins. The cookie is not a secret: it
// only stops a user from running a plugin binary by hand and getting gRPC
// noise instead of a hint.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "CRMHUB_PLUGIN_COOKIE",
	MagicCookieValue: "8b1f5c0e7d2a4e6f9c3b1a0d5e7f2c4b-crmhub-connector",
}

// The host half of the protocol goes to plugins/host through hostside,
// not through this package's exports: connector authors see only what
// they use.
func init() {
	hostside.Handshake = handshake
	hostside.ClientPlugins = func() map[int]plugin.PluginSet {
		return map[int]plugin.PluginSet{ProtocolVersion: pluginSet(Connector{})}
	}
	hostside.DialOptions = grpcDialOptions
	hostside.NewBulkChannel = func() (hostside.BulkChannel, error) {
		c, err := newBulkChannel()
		if err != nil {
			return nil, err // a nil interface, not a nil *bulkChannel
		}
		return c, nil
	}
}

// window is the HTTP/2 flow-control window. gRPC's 64 KB default makes a
// 1 MB batch wait for a dozen window updates; the plugin hop is a local
// socket, so a window of a few batches costs nothing.
const window = 16 << 20

// buffer sizes the transport's socket reads and writes. gRPC's 32 KB makes
// a 1 MB batch three dozen syscalls on each side, and on a busy machine
// each can be a hand-over between the two processes.
const buffer = 1 << 20

// grpcServerOptions and grpcDialOptions raise gRPC's 4 MB message limit so
// that large batches fit, widen the flow-control window and the transport
// buffers; the server sends packed batches without re-encoding them (see
// wireCodec).
func grpcServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage),
		grpc.InitialWindowSize(window), grpc.InitialConnWindowSize(window),
		grpc.WriteBufferSize(buffer), grpc.ReadBufferSize(buffer),
		grpc.ForceServerCodecV2(wireCodec{}),
	}
}

// grpcDialOptions: see grpcServerOptions.
func grpcDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)),
		grpc.WithInitialWindowSize(window), grpc.WithInitialConnWindowSize(window),
		grpc.WithWriteBufferSize(buffer), grpc.WithReadBufferSize(buffer),
	}
}

// Serve runs c as a plugin process and returns when the host tells it to
// stop. Call it from main:
//
//	func main() { sdk.Serve(myconnector.Connector) }
//
// Serve sets the default slog logger to one the host understands, so
// slog.Info and friends in the connector reach the hub's log tagged with the
// connector name. The process exits by itself when its parent dies, so a
// killed hub leaves no plugin behind.
func Serve(c Connector) {
	slog.SetDefault(slog.New(newPluginLogHandler(os.Stderr, slog.LevelDebug)))
	go exitWithParent(context.Background(), os.Getppid(), time.Second)
	set := pluginSet(c)
	if bulk, err := openBulkWriter(); err != nil {
		slog.Warn("no bulk channel, batches go inline over gRPC", "err", err)
	} else {
		set[hostside.PluginSource].(*sourcePlugin).bulk = bulk
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: set},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpcServerOptions()...)...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       c.Spec.Name,
			Output:     os.Stderr,
			JSONFormat: true,
			Level:      hclog.Info,
		}),
	})
}

// exitWithParent polls the parent pid: when the hub dies the plugin is
// re-parented and the pid changes. Polling also covers platforms without
// Pdeathsig and a parent thread that exits.
func exitWithParent(ctx context.Context, ppid int, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// A parent that died before this goroutine first looked has
			// already handed the process to init (pid 1).
			if p := os.Getppid(); p != ppid || p == 1 {
				slog.Warn("host process gone, exiting", "parent_pid", ppid)
				os.Exit(2)
			}
		}
	}
}

// newPluginLogHandler writes slog records as the JSON lines go-plugin parses
// on the host side (@level, @message; other attributes become fields).
func newPluginLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				// The host stamps lines itself; go-plugin's parser wants a
				// fixed layout we need not match.
				return slog.Attr{}
			case slog.LevelKey:
				return slog.String("@level", hclogLevel(a.Value.Any()))
			case slog.MessageKey:
				return slog.Attr{Key: "@message", Value: a.Value}
			}
			return a
		},
	})
}

func hclogLevel(v any) string {
	l, ok := v.(slog.Level)
	if !ok {
		return "info"
	}
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}
