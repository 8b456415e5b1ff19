package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/crmhub/crmhub/hub/config"
)

func init() { register(newBrokerCmd) }

type brokerFlags struct {
	listen, advertise, dataDir string
	partitions                 int
	mechanism, user            string
	passwordEnv                string
	ping                       string
}

// newBrokerCmd runs the embedded Kafka-protocol broker (kfake, the one
// `crmhub demo` embeds) as a process of its own, so that several hub
// instances can share it over TCP the way they share a Kafka cluster. It is
// for development, tests and small single-node sites: one broker, no
// replication. A production site runs Kafka.
func newBrokerCmd() *cobra.Command {
	var f brokerFlags
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a single-node Kafka-protocol broker (the embedded one) as its own process",
		Long: `Run the Kafka-protocol broker crmhub embeds (franz-go's kfake) as a standalone process that several
hub instances reach over TCP: one node, no replication, messages and offsets kept in --data-dir.
With --sasl-user, clients must authenticate (SASL --sasl-mechanism); the password comes from the
environment variable named by --password-env, never from the command line.
For development, tests and single-node sites; run Kafka for anything that must survive a disk.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBroker(cmd.Context(), f) },
	}
	cmd.Flags().StringVar(&f.listen, "listen", "127.0.0.1:9092", "address to listen on (host:port; port 0 picks a free one)")
	cmd.Flags().StringVar(&f.advertise, "advertise", "", "host:port clients are told to connect to (default: the listen address; required when listening on all interfaces)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "directory for messages and offsets (empty: memory only, lost on exit)")
	cmd.Flags().IntVar(&f.partitions, "partitions", 3, "partitions of a topic created without a count")
	cmd.Flags().StringVar(&f.mechanism, "sasl-mechanism", "SCRAM-SHA-512", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with --sasl-user)")
	cmd.Flags().StringVar(&f.user, "sasl-user", "", "require SASL and accept this user (empty: no authentication)")
	cmd.Flags().StringVar(&f.ping, "ping", "", "only check that a broker accepts connections at this host:port and exit (a container health check)")
	cmd.Flags().StringVar(&f.passwordEnv, "password-env", "CRMHUB_KAFKA_PASSWORD", "environment variable holding the SASL user's password")
	return cmd
}

// advertisedListener reports addr as its address: kfake tells clients the
// listener's address, which for ":9092" is no address a client can dial.
type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

type hostPortAddr string

func (hostPortAddr) Network() string  { return "tcp" }
func (a hostPortAddr) String() string { return string(a) }

func runBroker(ctx context.Context, f brokerFlags) error {
	if f.ping != "" {
		conn, err := net.DialTimeout("tcp", f.ping, 3*time.Second)
		if err != nil {
			return fmt.Errorf("broker at %s: %w", f.ping, err)
		}
		return conn.Close()
	}
	log := newLogger(config.Log{Level: "info"})
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", f.listen, err)
	}
	if f.advertise != "" {
		if _, _, err := net.SplitHostPort(f.advertise); err != nil {
			return fmt.Errorf("--advertise %q: %w", f.advertise, err)
		}
	} else if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return fmt.Errorf("--listen %q is every interface: say with --advertise which host:port clients dial", f.listen)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("crmhub-broker"),
		kfake.DefaultNumPartitions(f.partitions),
		kfake.WithLogger(kfakeLog{log}),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, f.listen)
			if err != nil || f.advertise == "" {
				return ln, err
			}
			return advertisedListener{ln, hostPortAddr(f.advertise)}, nil
		}),
	}
	if f.dataDir != "" {
		opts = append(opts, kfake.DataDir(f.dataDir))
	} else {
		log.Warn("broker without --data-dir: messages and offsets are lost on exit")
	}
	if f.user != "" {
		switch f.mechanism {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			return fmt.Errorf("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", f.mechanism)
		}
		pass := os.Getenv(f.passwordEnv)
		if pass == "" {
			return fmt.Errorf("--sasl-user %s: the password variable %s is empty or unset", f.user, f.passwordEnv)
		}
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(f.mechanism, f.user, pass))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start broker on %s: %w", f.listen, err)
	}
	defer c.Close()
	// The address on stdout alone, so scripts and tests can read it when
	// --listen asked for port 0.
	addrs := c.ListenAddrs()
	fmt.Println(addrs[0])
	log.Info("broker listening", "addr", addrs[0], "data_dir", f.dataDir, "sasl", f.user != "")
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Info("broker stopping")
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

type kfakeLog struct {
	log interface{ Error(string, ...any) }
}

func (l kfakeLog) Logf(level kfake.LogLevel, format string, args ...any) {
	if level == kfake.LogLevelError {
		l.log.Error("broker", "detail", fmt.Sprintf(format, args...))
	}
}
