//go:build unix

package host_test

import (
	"syscall"
	"time"
)

// cpuTimes returns the user+system CPU time of this process and of its
// children that have exited and been waited for.
func cpuTimes() (self, children time.Duration) {
	return rusage(syscall.RUSAGE_SELF), rusage(syscall.RUSAGE_CHILDREN)
}

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
