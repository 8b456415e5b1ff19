package host_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmhub/crmhub/plugins/host"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// socketsUnder lists the Unix socket files below dir.
func socketsUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type()&os.ModeSocket != 0 {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestKilledHostSocketsRemovedAtNextStart: a hub killed with SIGKILL leaves
// its plugins' socket files behind, in its own directory under the socket
// base and not loose in the temp dir; the next host removes that directory,
// keeps one whose process still runs, and removes its own on Close.
func TestKilledHostSocketsRemovedAtNextStart(t *testing.T) {
	base := t.TempDir()
	cmd, _ := startHelperHost(t, "CRMHUB_HOST_SOCKET_BASE="+base)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killedDir := filepath.Join(base, fmt.Sprintf("crmhub-plugins-%d-", cmd.Process.Pid))
	deadline := time.Now().Add(5 * time.Second)
	var left []string
	for len(left) == 0 && time.Now().Before(deadline) {
		left = socketsUnder(t, base) // the plugin dies with its host; its socket stays
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) == 0 {
		t.Fatal("no plugin socket under the socket base: the plugin did not use the host's directory")
	}
	for _, s := range left {
		if !strings.HasPrefix(s, killedDir) {
			t.Fatalf("socket %s is not in the killed host's directory %s*", s, killedDir)
		}
	}
	// A directory of a process that still runs (pid 1) is not stale.
	live := filepath.Join(base, "crmhub-plugins-1-keep")
	if err := os.Mkdir(live, 0o700); err != nil {
		t.Fatal(err)
	}

	f := newHost(t, func(o *host.Options) { o.SocketBase = base })
	if got := socketsUnder(t, base); len(got) != 0 {
		t.Errorf("sockets of the killed host still there after the next start: %v", got)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live process's socket dir was removed: %v", err)
	}
	src := openSource(t, f.host, "a", "crashy", sdk.Config{"total": 5})
	own, _ := filepath.Glob(filepath.Join(base, fmt.Sprintf("crmhub-plugins-%d-*", os.Getpid())))
	if len(own) != 1 || len(socketsUnder(t, own[0])) == 0 {
		t.Fatalf("the running plugin's socket is not in the host's own dir: dirs %v", own)
	}
	_ = src
	if err := f.host.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(own[0]); !os.IsNotExist(err) {
		t.Errorf("own socket dir %s not removed by Close: %v", own[0], err)
	}
}
