//go:build !linux

package host

import "os/exec"

// dieWithParent: without Pdeathsig, sdk.Serve's parent-pid polling does the job.
func dieWithParent(*exec.Cmd) {}
