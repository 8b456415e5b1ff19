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
	sum, hwm := tree.peakRSSMB()
	if hwm <= 0 {
		t.Errorf("root's peak RSS %v MB, want > 0", hwm)
	}
	// The shell and the sleep share libc's pages: PSS counts them once,
	// so together they are more than nothing and less than their RSS.
	if pss := float64(tree.peakPSSKB) / 1024; pss <= 0 || pss >= sum {
		t.Errorf("peak PSS %v MB with a summed peak RSS of %v MB, want 0 < PSS < RSS", pss, sum)
	}
}
