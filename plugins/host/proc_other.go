//go:build !linux

package host

import "os/exec"

// dieWithParent: without Pdeathsig, sdk.Serve's parent-pid polling does the job.
func dieWithParent(*exec.Cmd) {}

// pidAlive cannot tell here: a socket dir of another process is never
// taken for stale.
func pidAlive(int) bool { return true }
