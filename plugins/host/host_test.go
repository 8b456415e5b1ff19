package host_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/plugins/host"
	"github.com/crmhub/crmhub/plugins/host/testdata/testconn"
	"github.com/crmhub/crmhub/plugins/internal/hostside"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// pluginBin is testdata/testconn/cmd/testplugin, built once per run.
var pluginBin string

func TestMain(m *testing.M) {
	pluginBin = os.Getenv("CRMHUB_TEST_PLUGIN")
	if pluginBin != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "crmhub-host-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginBin = filepath.Join(dir, "testplugin")
	out, err := exec.Command("go", "build", "-o", pluginBin, "./testdata/testconn/cmd/testplugin").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build test plugin: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	host *host.Host
	reg  *prometheus.Registry
	logs *syncBuffer
}

func newHost(t *testing.T, mod func(*host.Options)) fixture {
	t.Helper()
	f := fixture{reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	opts := host.Options{
		Builtins:    map[string]sdk.Connector{"crashy": testconn.Connector},
		SelfCmd:     []string{pluginBin, "plugin", "serve"},
		MaxRestarts: 3,
		BackoffBase: 10 * time.Millisecond,
		BackoffMax:  50 * time.Millisecond,
		Registerer:  f.reg,
		Logger:      slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&opts)
	}
	h, err := host.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.host = h
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return f
}

// readAll reads until an empty batch, acking after each batch as the
// pipeline does once records are durable, and returns the ids in order.
func readAll(t *testing.T, src sdk.Source, batch int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for {
		recs, err := src.Read(ctx, batch)
		if err != nil {
			t.Fatalf("read after %d records: %v", len(ids), err)
		}
		if len(recs) == 0 {
			return ids
		}
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		if err := src.Ack(ctx, recs[len(recs)-1].Position); err != nil {
			t.Fatal(err)
		}
	}
}

func wantSequence(t *testing.T, ids []string, n int) {
	t.Helper()
	if len(ids) != n {
		t.Fatalf("got %d records, want %d: %v", len(ids), n, ids)
	}
	for i, id := range ids {
		if id != strconv.Itoa(i) {
			t.Fatalf("record %d has id %s: lost or duplicated records: %v", i, id, ids)
		}
	}
}

func openSource(t *testing.T, h *host.Host, instance, connector string, cfg sdk.Config) sdk.Source {
	t.Helper()
	ctx := context.Background()
	src, err := h.Source(ctx, instance, connector)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestCrashMidBatchRestartsAndResumesAtAckedPosition(t *testing.T) {
	f := newHost(t, nil)
	marker := filepath.Join(t.TempDir(), "crashed")
	src := openSource(t, f.host, "crm", "crashy", sdk.Config{"total": 50, "crash_at": 23, "crash_marker": marker})
	before := f.host.Health()[0].PID

	ids := readAll(t, src, 10)

	wantSequence(t, ids, 50)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the plugin never crashed: %v", err)
	}
	hl := f.host.Health()[0]
	if hl.State != host.StateRunning || hl.Restarts != 1 || hl.PID == before || hl.PID == 0 {
		t.Errorf("health after one crash = %+v (pid before %d)", hl, before)
	}
	if got := metricValue(t, f.reg, "crmhub_connector_restarts_total"); got != 1 {
		t.Errorf("restarts_total = %v, want 1", got)
	}
	if got := metricValue(t, f.reg, "crmhub_connector_records_read_total"); got != 50 {
		t.Errorf("records_read_total = %v, want 50", got)
	}
	// The restarted plugin was opened at the last acked position, and its
	// log line reached the host's log tagged with the instance. Which
	// position that is depends on how far the plugin had read ahead when
	// it crashed at record 23: none yet, 10, or 20 (the host acks whole
	// batches of 10), never one past the crash.
	logs := f.logs.String()
	if !strings.Contains(logs, `"connector":"crm"`) {
		t.Errorf("plugin log lines lack the instance tag:\n%s", logs)
	}
	opened := regexp.MustCompile(`"msg":"crashy opened".*"position":"(\d*)"`).FindAllStringSubmatch(logs, -1)
	if len(opened) != 2 {
		t.Fatalf("want the first open and one re-open in the host log, got %d:\n%s", len(opened), logs)
	}
	if p := opened[1][1]; p != "" && p != "10" && p != "20" {
		t.Errorf("re-opened at position %q, want an acked one (\"\", 10 or 20)", p)
	}
}

// metricValue sums every series of a counter or gauge family.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var v float64
		for _, m := range mf.GetMetric() {
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return v
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestGivesUpAfterMaxRestartsWithoutStoppingOthers(t *testing.T) {
	f := newHost(t, func(o *host.Options) { o.MaxRestarts = 2 })
	bad := openSource(t, f.host, "broken", "crashy", sdk.Config{"total": 10, "crash_at": 3})
	good := openSource(t, f.host, "fine", "crashy", sdk.Config{"total": 10})

	_, err := bad.Read(context.Background(), 5)
	if !errors.Is(err, host.ErrFailed) {
		t.Fatalf("read of an always-crashing plugin = %v, want ErrFailed", err)
	}
	if _, err := bad.Read(context.Background(), 5); !errors.Is(err, host.ErrFailed) {
		t.Fatalf("a failed instance must stay failed, got %v", err)
	}
	wantSequence(t, readAll(t, good, 4), 10)

	states := map[string]host.InstanceHealth{}
	for _, h := range f.host.Health() {
		states[h.Instance] = h
	}
	if s := states["broken"]; s.State != host.StateFailed || s.Restarts != 2 || s.LastError == "" {
		t.Errorf("broken = %+v", s)
	}
	if s := states["fine"]; s.State != host.StateRunning || s.LastSuccess.IsZero() {
		t.Errorf("fine = %+v", s)
	}
	// One instance up (fine), one down (broken).
	if up := metricValue(t, f.reg, "crmhub_connector_up"); up != 1 {
		t.Errorf("sum of crmhub_connector_up = %v, want 1", up)
	}
	if !strings.Contains(f.logs.String(), "connector failed") {
		t.Error("the failure was not logged")
	}
}

func TestInProcessReadsTheSameRecords(t *testing.T) {
	f := newHost(t, func(o *host.Options) { o.InProcess = true })
	src := openSource(t, f.host, "crm", "crashy", sdk.Config{"total": 25})
	wantSequence(t, readAll(t, src, 7), 25)
	if pid := f.host.Health()[0].PID; pid != 0 {
		t.Errorf("in-process instance reports pid %d", pid)
	}
}

func TestConfigureReportsEveryProblem(t *testing.T) {
	f := newHost(t, nil)
	src, err := f.host.Source(context.Background(), "crm", "crashy")
	if err != nil {
		t.Fatal(err)
	}
	err = src.Configure(context.Background(), sdk.Config{"total": "many", "colour": "red"})
	if err == nil || !strings.Contains(err.Error(), "total: want an integer") || !strings.Contains(err.Error(), "colour: unknown key") {
		t.Fatalf("want both problems named, got %v", err)
	}
	if _, err := f.host.Source(context.Background(), "x", "nope"); !errors.Is(err, host.ErrUnknown) {
		t.Errorf("unknown connector: %v", err)
	}
}

func TestDestinationCrashDuringWrite(t *testing.T) {
	f := newHost(t, nil)
	ctx := context.Background()
	dst, err := f.host.Destination(ctx, "erp-out", "crashy")
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.Configure(ctx, sdk.Config{}); err != nil {
		t.Fatal(err)
	}
	if err := dst.Open(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := dst.Write(ctx, []sdk.Record{{ID: "1", Op: sdk.OpUpsert}, {ID: "2", Op: sdk.OpDelete}})
	if err != nil || len(res) != 2 || res[0].ID != "t-1" || res[1].Error == "" {
		t.Fatalf("write = %+v, %v", res, err)
	}
	_, err = dst.Write(ctx, []sdk.Record{{ID: "crash"}})
	if !errors.Is(err, sdk.ErrTransport) {
		t.Fatalf("a crash during write must fail the batch with ErrTransport, got %v", err)
	}
	res, err = dst.Write(ctx, []sdk.Record{{ID: "3", Op: sdk.OpUpsert}})
	if err != nil || len(res) != 1 || res[0].ID != "t-3" {
		t.Fatalf("write after restart = %+v, %v", res, err)
	}
}

// install puts the test plugin binary into dir/<name>/ with a manifest.
func install(t *testing.T, dir, name string, protocol int) (binary, sum string) {
	t.Helper()
	pdir := filepath.Join(dir, name)
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(pluginBin)
	if err != nil {
		t.Fatal(err)
	}
	binary = filepath.Join(pdir, name)
	if err := os.WriteFile(binary, b, 0o755); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	sum = hex.EncodeToString(h[:])
	manifest := fmt.Sprintf("name: %s\nversion: 0.1.0\nprotocol_version: %d\nsha256: %s\nbinary: %s\n", name, protocol, sum, name)
	if err := os.WriteFile(filepath.Join(pdir, host.ManifestFile), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return binary, sum
}

func TestExternalPluginRunsFromManifest(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "crashy", 1)
	f := newHost(t, func(o *host.Options) { o.Builtins = nil; o.PluginDir = dir })
	cat := f.host.Catalog()
	if len(cat) != 1 || cat[0].Name != "crashy" || len(cat[0].Params) != len(testconn.Connector.Spec.Params) {
		t.Fatalf("catalog = %+v", cat)
	}
	src := openSource(t, f.host, "ext", "crashy", sdk.Config{"total": 12})
	wantSequence(t, readAll(t, src, 5), 12)
}

func TestTamperedPluginRefused(t *testing.T) {
	dir := t.TempDir()
	binary, sum := install(t, dir, "crashy", 1)
	fh, err := os.OpenFile(binary, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.Write([]byte("evil"))
	fh.Close()
	b, _ := os.ReadFile(binary)
	actual := sha256.Sum256(b)

	f := newHost(t, func(o *host.Options) { o.Builtins = nil; o.PluginDir = dir })
	if len(f.host.Catalog()) != 0 {
		t.Errorf("a tampered plugin is in the catalog: %+v", f.host.Catalog())
	}
	_, err = f.host.Source(context.Background(), "ext", "crashy")
	if !errors.Is(err, host.ErrChecksum) {
		t.Fatalf("want ErrChecksum, got %v", err)
	}
	for _, want := range []string{binary, sum, hex.EncodeToString(actual[:])} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestOldProtocolPluginRefused(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, "oldproto", 1)
	start := time.Now()
	f := newHost(t, func(o *host.Options) { o.Builtins = nil; o.PluginDir = dir })
	_, err := f.host.Spec("oldproto")
	if !errors.Is(err, host.ErrIncompatible) {
		t.Fatalf("want ErrIncompatible, got %v", err)
	}
	if !strings.Contains(err.Error(), "Plugin version: 0") || !strings.Contains(err.Error(), "protocol 1") {
		t.Errorf("error should name both versions: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing took %v: it should not wait for a timeout", d)
	}

	// A manifest that declares another protocol is refused without running it.
	dir2 := t.TempDir()
	install(t, dir2, "crashy", 2)
	f2 := newHost(t, func(o *host.Options) { o.Builtins = nil; o.PluginDir = dir2 })
	if _, err := f2.host.Spec("crashy"); !errors.Is(err, host.ErrIncompatible) {
		t.Fatalf("manifest protocol 2: want ErrIncompatible, got %v", err)
	}
}

// children lists the live (non-zombie) child processes of pid.
func children(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, state, ok := procStat(n); ok && ppid == pid && state != "Z" {
			out = append(out, n)
		}
	}
	return out
}

// procStat reads the parent pid and state of a process.
func procStat(pid int) (ppid int, state string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	s := string(b)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(rest) < 2 {
		return 0, "", false
	}
	ppid, _ = strconv.Atoi(rest[1])
	return ppid, rest[0], true
}

func TestCloseLeavesNoChildProcess(t *testing.T) {
	f := newHost(t, nil)
	openSource(t, f.host, "a", "crashy", sdk.Config{"total": 5})
	openSource(t, f.host, "b", "crashy", sdk.Config{"total": 5})
	if n := len(children(t, os.Getpid())); n < 2 {
		t.Fatalf("expected 2 plugin processes, found %d", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.host.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if left := children(t, os.Getpid()); len(left) != 0 {
		t.Fatalf("processes left after Close: %v", left)
	}
	for _, h := range f.host.Health() {
		if h.State != host.StateStopped {
			t.Errorf("%s is %s after Close", h.Instance, h.State)
		}
	}
}

// TestHelperHostProcess is the hub process of TestKilledHostLeavesNoPlugin.
func TestHelperHostProcess(t *testing.T) {
	if os.Getenv("CRMHUB_HOST_HELPER") == "" {
		t.Skip("helper process for TestKilledHostLeavesNoPlugin")
	}
	f := newHost(t, func(o *host.Options) { o.SocketBase = os.Getenv("CRMHUB_HOST_SOCKET_BASE") })
	openSource(t, f.host, "a", "crashy", sdk.Config{"total": 5})
	fmt.Printf("PID=%d\n", f.host.Health()[0].PID)
	time.Sleep(time.Minute)
}

func TestKilledHostLeavesNoPlugin(t *testing.T) {
	cmd, pid := startHelperHost(t)
	if ppid, _, ok := procStat(pid); !ok || ppid != cmd.Process.Pid {
		t.Fatalf("plugin %d is not a child of the helper host %d", pid, cmd.Process.Pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, state, ok := procStat(pid)
		if !ok || state == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d still alive (state %s) 5s after its host was killed", pid, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestExampleJSONLPlugin builds the third-party example in its own module,
// installs it with a manifest and reads it through the host.
func TestExampleJSONLPlugin(t *testing.T) {
	dir := t.TempDir()
	pdir := filepath.Join(dir, "jsonl")
	bin := filepath.Join(pdir, "jsonl")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "examples", "jsonl")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build example: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	manifest := fmt.Sprintf("name: jsonl\nversion: 0.1.0\nprotocol_version: 1\nsha256: %x\nbinary: jsonl\n", sum)
	if err := os.WriteFile(filepath.Join(pdir, host.ManifestFile), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := filepath.Abs(filepath.Join("..", "examples", "jsonl", "testdata", "customers.jsonl"))
	if err != nil {
		t.Fatal(err)
	}

	f := newHost(t, func(o *host.Options) { o.PluginDir = dir })
	spec, err := f.host.Spec("jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sdk.DescribeText(spec), "path") || len(f.host.Catalog()) != 2 {
		t.Errorf("describe/catalog: %s %+v", sdk.DescribeText(spec), f.host.Catalog())
	}
	src := openSource(t, f.host, "erp-file", "jsonl", sdk.Config{"path": data})
	var got []string
	for {
		recs, err := src.Read(context.Background(), 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if r.Error != "" {
				t.Errorf("record %s: %s", r.ID, r.Error)
			}
			got = append(got, fmt.Sprintf("%s:%s:%s", r.Op, r.ID, r.UpdatedAt.Format("01-02")))
		}
		if err := src.Ack(context.Background(), recs[len(recs)-1].Position); err != nil {
			t.Fatal(err)
		}
	}
	want := "upsert:C-1001:03-01 upsert:C-1002:03-02 upsert:1003:03-03 upsert:C-1004:03-04 delete:C-1002:03-05"
	if strings.Join(got, " ") != want {
		t.Errorf("read %v\nwant %s", got, want)
	}
	if !strings.Contains(f.logs.String(), `"msg":"jsonl opened"`) {
		t.Error("the plugin's log did not reach the host log")
	}
}

func TestMissingPluginDirMeansBuiltinsOnly(t *testing.T) {
	f := newHost(t, func(o *host.Options) { o.PluginDir = filepath.Join(t.TempDir(), "absent") })
	if cat := f.host.Catalog(); len(cat) != 1 || cat[0].Name != "crashy" {
		t.Fatalf("catalog = %+v", cat)
	}
}

// TestPluginExitsWhenParentDiesWithoutPdeathsig covers sdk.Serve's own
// parent watch: the plugin is started by a shell (no Pdeathsig), the shell
// is killed, and the plugin must notice and exit.
func TestPluginExitsWhenParentDiesWithoutPdeathsig(t *testing.T) {
	sh := exec.Command("/bin/sh", "-c", `"$0" plugin serve crashy >/dev/null 2>&1 & echo $!; wait`, pluginBin)
	sh.Env = append(os.Environ(), hostside.Handshake.MagicCookieKey+"="+hostside.Handshake.MagicCookieValue)
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Skipf("no /bin/sh: %v", err)
	}
	defer sh.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	time.Sleep(300 * time.Millisecond) // let the plugin reach Serve
	if _, state, ok := procStat(pid); !ok || state == "Z" {
		t.Fatalf("plugin %d did not start", pid)
	}
	_ = sh.Process.Signal(syscall.SIGKILL)
	_ = sh.Wait()
	// Generous: the plugin polls every second, and a loaded CI machine may
	// not schedule it for a while; what matters is that it does exit.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, state, ok := procStat(pid)
		if !ok || state == "Z" {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("plugin %d still running 30s after its parent died", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startHelperHost runs TestHelperHostProcess as a host process of its own,
// with env added, and returns it with the pid of the plugin it launched.
// The process is killed when the test ends.
func startHelperHost(t *testing.T, env ...string) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHostProcess$", "-test.v")
	cmd.Env = append(append(os.Environ(), "CRMHUB_HOST_HELPER=1", "CRMHUB_TEST_PLUGIN="+pluginBin), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	pid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PID="); ok {
			pid, _ = strconv.Atoi(v)
			break
		}
	}
	if pid == 0 {
		t.Fatal("helper host never reported its plugin pid")
	}
	return cmd, pid
}
