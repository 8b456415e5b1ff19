package host

import (
	"errors"
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the plugin when the hub dies, even by
// SIGKILL. sdk.Serve also polls its parent pid, for the rare case where the
// thread that started the child exits before the process does.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// pidAlive reports whether a process with this pid exists (EPERM: it does,
// owned by someone else).
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
