package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/plugins/internal/hostside"
	"github.com/crmhub/crmhub/plugins/sdk"
)

var (
	// ErrUnknown: no built-in or external connector has that name.
	ErrUnknown = errors.New("unknown connector")
	// ErrFailed: an instance crashed more times in a row than MaxRestarts
	// allows and was given up.
	ErrFailed = errors.New("connector failed")
	// ErrChecksum: an external plugin's binary does not match its manifest.
	ErrChecksum = errors.New("plugin checksum mismatch")
	// ErrIncompatible: the plugin speaks a protocol version the host does not.
	ErrIncompatible = errors.New("incompatible plugin protocol version")
	// ErrClosed: the host was closed.
	ErrClosed = errors.New("plugin host closed")
)

// Options configure a Host. Zero values get the defaults documented per field.
type Options struct {
	// Builtins are the connectors compiled into crmhub: their declarations,
	// and constructors for in-process use.
	Builtins map[string]sdk.Connector
	// SelfCmd is the argv that re-executes the crmhub binary as a plugin;
	// the connector name is appended. Default: os.Executable() plugin serve.
	SelfCmd []string
	// PluginDir holds external plugins, <dir>/<name>/manifest.yaml each.
	// Empty: none.
	PluginDir string
	// InProcess runs built-ins in the hub's process (tests, development).
	// External plugins always run in their own process.
	InProcess bool
	// MaxRestarts is how many consecutive crashes an instance survives
	// before it is reported failed. Default 5; negative means none.
	MaxRestarts int
	// BackoffBase and BackoffMax bound the wait before a restart: base
	// doubled per consecutive failure, capped at max, with full jitter
	// (internal/retry).
	// Defaults 200ms and 30s.
	BackoffBase, BackoffMax time.Duration
	// StartTimeout bounds the plugin handshake. Default 10s.
	StartTimeout time.Duration
	// Registerer receives the per-instance metrics. Nil: not exported.
	Registerer prometheus.Registerer
	// Logger receives host and plugin logs. Default slog.Default().
	Logger *slog.Logger
	// SocketBase is where the host makes its directory for the plugins'
	// Unix sockets (removed by Close, or by the next host if this one is
	// killed). Default os.TempDir().
	SocketBase string
}

// entry is one known connector.
type entry struct {
	spec    sdk.Spec
	builtin *sdk.Connector
	ext     *external
	err     error // why the connector cannot be used (bad manifest, tampered binary)
}

// Host starts and supervises connector instances.
type Host struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	entries map[string]*entry
	// socketDir holds the plugin processes' sockets; see makeSocketDir.
	socketDir string

	mu        sync.Mutex
	closed    bool
	instances []*instance
}

// New discovers the connectors. External plugins are started once to read
// their declaration; one that cannot be used is logged and kept out of the
// catalog, and Source/Destination/Spec report why.
func New(opts Options) (*Host, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxRestarts == 0 {
		opts.MaxRestarts = 5
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 200 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.BackoffMax < opts.BackoffBase {
		opts.BackoffMax = opts.BackoffBase
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}
	if len(opts.SelfCmd) == 0 && !opts.InProcess && len(opts.Builtins) > 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("plugin host: find own executable: %w", err)
		}
		opts.SelfCmd = []string{exe, "plugin", "serve"}
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("plugin host: %w", err)
	}
	h := &Host{opts: opts, log: opts.Logger, metrics: m, entries: map[string]*entry{}}
	if h.socketDir, err = makeSocketDir(opts.SocketBase); err != nil {
		return nil, fmt.Errorf("plugin host: %w", err)
	}
	for name, c := range opts.Builtins {
		c := c
		if c.Spec.Name == "" {
			c.Spec.Name = name
		}
		h.entries[name] = &entry{spec: c.Spec, builtin: &c}
	}
	if opts.PluginDir != "" {
		dirs, err := discover(opts.PluginDir)
		if err != nil {
			return nil, fmt.Errorf("plugin host: %w", err)
		}
		for _, dir := range dirs {
			h.addExternal(dir)
		}
	}
	return h, nil
}

func (h *Host) addExternal(dir string) {
	ext, err := readManifest(dir)
	name := filepath.Base(dir)
	if err != nil {
		h.log.Error("plugin refused", "dir", dir, "error", err)
		h.entries[name] = &entry{spec: sdk.Spec{Name: name}, err: err}
		return
	}
	if _, ok := h.entries[name]; ok {
		h.log.Error("plugin refused: name taken by a built-in connector", "plugin", name, "dir", dir)
		return
	}
	e := &entry{spec: sdk.Spec{Name: name, Version: ext.manifest.Version}, ext: ext}
	h.entries[name] = e
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.StartTimeout+5*time.Second)
	defer cancel()
	spec, err := h.describe(ctx, e)
	if err != nil {
		h.log.Error("plugin refused", "plugin", name, "error", err)
		e.err = err
		return
	}
	if spec.Name != name {
		e.err = fmt.Errorf("plugin %s: binary declares itself %q", name, spec.Name)
		h.log.Error("plugin refused", "plugin", name, "error", e.err)
		return
	}
	if spec.Version == "" {
		spec.Version = ext.manifest.Version
	}
	e.spec = spec
}

// describe starts an external plugin just long enough to read its Spec.
func (h *Host) describe(ctx context.Context, e *entry) (sdk.Spec, error) {
	p, err := h.launch(e, hostside.PluginSource, h.log)
	if err != nil {
		return sdk.Spec{}, err
	}
	defer p.kill()
	d, ok := p.raw.(interface {
		Spec(context.Context) (sdk.Spec, error)
	})
	if !ok {
		return sdk.Spec{}, fmt.Errorf("plugin %s: cannot describe itself", e.spec.Name)
	}
	spec, err := d.Spec(ctx)
	if err != nil {
		return sdk.Spec{}, fmt.Errorf("plugin %s: read declaration: %w", e.spec.Name, err)
	}
	return spec, nil
}

// Catalog lists the usable connectors, built-in and external, by name.
func (h *Host) Catalog() []sdk.Spec {
	var out []sdk.Spec
	for _, e := range h.entries {
		if e.err == nil {
			out = append(out, e.spec)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Spec returns one connector's declaration.
func (h *Host) Spec(name string) (sdk.Spec, error) {
	e, err := h.entry(name)
	if err != nil {
		return sdk.Spec{}, err
	}
	return e.spec, nil
}

func (h *Host) entry(name string) (*entry, error) {
	e, ok := h.entries[name]
	if !ok {
		return nil, fmt.Errorf("connector %q: %w", name, ErrUnknown)
	}
	if e.err != nil {
		return nil, e.err
	}
	return e, nil
}

// proc is one running plugin process, or an in-process connector (client nil).
type proc struct {
	client *plugin.Client
	raw    any
	pid    int
	// bulk carries a source's batches beside gRPC (hostside.BulkChannel); nil
	// for destinations and where the platform has none.
	bulk hostside.BulkChannel
}

func (p *proc) exited() bool { return p != nil && p.client != nil && p.client.Exited() }

func (p *proc) kill() {
	if p != nil && p.client != nil {
		p.client.Kill()
	}
	if p != nil && p.bulk != nil {
		p.bulk.Close()
	}
}

// launch starts a plugin process for e and dispenses kind from it.
func (h *Host) launch(e *entry, kind string, log *slog.Logger) (*proc, error) {
	var argv []string
	var secure *plugin.SecureConfig
	switch {
	case e.ext != nil:
		// Check first so the error can name both checksums; SecureConfig
		// then re-checks at exec time.
		if err := verifyChecksum(e.ext); err != nil {
			return nil, err
		}
		argv = []string{e.ext.binary}
		secure = &plugin.SecureConfig{Checksum: e.ext.checksum, Hash: sha256.New()}
	case e.builtin != nil:
		argv = append(append([]string{}, h.opts.SelfCmd...), e.spec.Name)
	default:
		return nil, fmt.Errorf("connector %s: nothing to run", e.spec.Name)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), socketEnv(h.socketDir))
	dieWithParent(cmd)
	var bulk hostside.BulkChannel
	if kind == hostside.PluginSource {
		var err error
		if bulk, err = hostside.NewBulkChannel(); err != nil {
			log.Debug("plugin batches go inline over gRPC", "err", err)
		} else {
			bulk.Prepare(cmd)
		}
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  hostside.Handshake,
		VersionedPlugins: hostside.ClientPlugins(),
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     h.opts.StartTimeout,
		GRPCDialOptions:  hostside.DialOptions(),
		Logger:           hclogFor(log),
		Stderr:           io.Discard,
		SyncStdout:       io.Discard,
		SyncStderr:       io.Discard,
	})
	fail := func() {
		client.Kill()
		if bulk != nil {
			bulk.Close()
		}
	}
	rpc, err := client.Client()
	if bulk != nil {
		bulk.Started()
	}
	if err != nil {
		fail()
		return nil, classifyStartError(e, argv[0], err)
	}
	raw, err := rpc.Dispense(kind)
	if err != nil {
		fail()
		return nil, fmt.Errorf("plugin %s: dispense %s: %w", e.spec.Name, kind, err)
	}
	if bulk != nil && !bulk.Attach(raw) {
		bulk.Close()
		bulk = nil
	}
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	return &proc{client: client, raw: raw, pid: pid, bulk: bulk}, nil
}

func verifyChecksum(ext *external) error {
	f, err := os.Open(ext.binary)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", ext.manifest.Name, err)
	}
	defer f.Close()
	hash := sha256.New()
	if _, err := io.Copy(hash, f); err != nil {
		return fmt.Errorf("plugin %s: read %s: %w", ext.manifest.Name, ext.binary, err)
	}
	got := hash.Sum(nil)
	if hex.EncodeToString(got) != hex.EncodeToString(ext.checksum) {
		return fmt.Errorf("plugin %s: binary %s has sha256 %x but its manifest says %x: %w",
			ext.manifest.Name, ext.binary, got, ext.checksum, ErrChecksum)
	}
	return nil
}

func classifyStartError(e *entry, bin string, err error) error {
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("plugin %s: binary %s changed after its checksum was verified: %w", e.spec.Name, bin, ErrChecksum)
	case strings.Contains(strings.ToLower(err.Error()), "incompatible api version"):
		return fmt.Errorf("plugin %s (%s): %v; this host speaks plugin protocol %d, rebuild the plugin against a matching crmhub SDK: %w",
			e.spec.Name, bin, err, sdk.ProtocolVersion, ErrIncompatible)
	default:
		return fmt.Errorf("plugin %s: start %s: %w", e.spec.Name, bin, err)
	}
}

func (h *Host) register(i *instance) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	h.instances = append(h.instances, i)
	return nil
}

// Health reports every instance started by this host, in start order.
func (h *Host) Health() []InstanceHealth {
	h.mu.Lock()
	insts := append([]*instance(nil), h.instances...)
	h.mu.Unlock()
	out := make([]InstanceHealth, len(insts))
	for i, in := range insts {
		out[i] = in.health()
	}
	return out
}

// Close tears down every instance (connectors flush and ack what is
// durable), then stops the plugin processes; a process that does not stop
// by itself is killed. It returns when no plugin process is left.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	insts := append([]*instance(nil), h.instances...)
	h.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(insts))
	for i, in := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = in.stop(ctx)
		}()
	}
	wg.Wait()
	if h.socketDir != "" {
		_ = os.RemoveAll(h.socketDir)
	}
	return errors.Join(errs...)
}

// hclogFor turns go-plugin's hclog output, including the plugin's own log
// lines, into slog records on log.
func hclogFor(log *slog.Logger) hclog.Logger {
	level := hclog.Info
	if log.Enabled(context.Background(), slog.LevelDebug) {
		level = hclog.Debug
	}
	l := hclog.NewInterceptLogger(&hclog.LoggerOptions{Output: io.Discard, Level: level})
	l.RegisterSink(slogSink{log})
	return l
}

type slogSink struct{ log *slog.Logger }

func (s slogSink) Accept(_ string, level hclog.Level, msg string, args ...any) {
	var l slog.Level
	switch {
	case level <= hclog.Debug:
		l = slog.LevelDebug
	case level == hclog.Info:
		l = slog.LevelInfo
	case level == hclog.Warn:
		l = slog.LevelWarn
	default:
		l = slog.LevelError
	}
	// go-plugin adds its own timestamp field; slog stamps records already.
	clean := args[:0:0]
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == "timestamp" {
			continue
		}
		clean = append(clean, args[i], args[i+1])
	}
	s.log.Log(context.Background(), l, msg, clean...)
}
