package host

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-plugin"
)

// socketDirPrefix names the directories holding plugin processes' gRPC
// sockets: crmhub-plugins-<host pid>-<random>.
const socketDirPrefix = "crmhub-plugins-"

// makeSocketDir creates this host's socket directory under base and removes
// those left by hosts that no longer run. go-plugin's server creates its
// Unix socket in the temp dir and removes it only on a clean exit, so a
// plugin or hub killed with SIGKILL used to leave socket files behind for
// good; with one directory per host, the next start removes them (a
// directory whose pid is alive, another hub on the same machine, is kept).
func makeSocketDir(base string) (string, error) {
	if base == "" {
		base = os.TempDir()
	}
	entries, _ := os.ReadDir(base) // nothing to clean when unreadable
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), socketDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || pidAlive(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(base, e.Name()))
	}
	dir, err := os.MkdirTemp(base, fmt.Sprintf("%s%d-", socketDirPrefix, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("plugin socket dir: %w", err)
	}
	return dir, nil
}

// socketEnv tells a plugin process to create its sockets in dir.
func socketEnv(dir string) string { return plugin.EnvUnixSocketDir + "=" + dir }
