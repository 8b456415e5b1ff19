package host

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the plugin when the hub dies, even by
// SIGKILL. sdk.Serve also polls its parent pid, for the rare case where the
// thread that started the child exits before the process does.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
