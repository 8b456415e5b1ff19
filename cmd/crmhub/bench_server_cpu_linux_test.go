//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// 17 fields: pid, (comm), state, ppid, then utime..cstime at 14..17.
	stat := func(comm string) string {
		return "4242 (" + comm + ") S 7 4242 4242 0 -1 4194560 100 0 0 0 250 50 1000 200 20 0 1 0\n"
	}
	for _, tc := range []struct {
		name, stat string
		children   bool
		want       time.Duration
		ppid       int
		bad        bool
	}{
		{name: "own", stat: stat("postgres"), want: 3 * time.Second, ppid: 7},
		{name: "with reaped children", stat: stat("postgres"), children: true, want: 15 * time.Second, ppid: 7},
		{name: "name with spaces and a parenthesis", stat: stat("postgres: 15/main: x) y"), want: 3 * time.Second, ppid: 7},
		{name: "no name", stat: "4242 S 7", bad: true},
		{name: "cut short", stat: "4242 (x) S 7 1 2 3", bad: true},
		{name: "not a number", stat: strings.Replace(stat("x"), " 250 ", " x ", 1), bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ppid, err := parseProcStat(tc.stat, tc.children)
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed %q as %v, want an error", tc.stat, got)
				}
				return
			}
			if err != nil || got != tc.want || ppid != tc.ppid {
				t.Fatalf("parseProcStat = %v, %d, %v; want %v, %d", got, ppid, err, tc.want, tc.ppid)
			}
		})
	}
}

// TestServerCPU runs a "server" (a shell) whose child burns a core: its
// CPU counts while the child runs, and stays counted once the child is
// killed and reaped, as a PostgreSQL backend's does when it exits.
func TestServerCPU(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	server := exec.Command("sh", "-c", `sh -c 'while :; do :; done' & echo $! > `+pidFile+`; wait; exec sleep 60`)
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Process.Kill(); server.Wait() })
	var child int
	waitFor(t, "the burning child to start", 10*time.Second, func() bool {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		return child != 0
	})
	a, err := serverCPU(server.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	b, err := serverCPU(server.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if b-a < 50*time.Millisecond {
		t.Fatalf("server CPU %v -> %v while its child burned a core for 0.5 s: the live child is not counted", a, b)
	}
	if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Reaped: gone from /proc, its times in the server's cutime.
	waitFor(t, "the killed child to be reaped", 10*time.Second, func() bool {
		_, _, err := procTimes(child, false)
		return err != nil
	})
	c, err := serverCPU(server.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if c < b {
		t.Fatalf("server CPU %v after its child was reaped, %v before: the reaped child's time is lost", c, b)
	}
	if _, err := serverCPU(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
