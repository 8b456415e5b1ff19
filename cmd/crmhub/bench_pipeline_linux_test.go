package main

import (
	"bufio"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// The sampler finds a process's descendants (the hub's plugin process is
// its child) without scanning the whole of /proc.
func TestProcTreeFindsDescendants(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc")
	}
	cmd := exec.Command("sh", "-c", "sleep 30 & echo started; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so the sleep is killed with its shell
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil { // the child is running
		t.Fatal(err)
	}
	tree := newProcTree(cmd.Process.Pid)
	tree.sample()
	if len(tree.procs) != 2 {
		t.Fatalf("sampled %d processes (%v), want the shell and its sleep", len(tree.procs), tree.procs)
	}
	if _, hwm := tree.peakRSSMB(); hwm <= 0 {
		t.Errorf("root's peak RSS %v MB, want > 0", hwm)
	}
}
