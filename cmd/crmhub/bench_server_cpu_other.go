//go:build !linux

package main

import (
	"errors"
	"time"
)

// serverCPU reads /proc, which only Linux has.
func serverCPU(pid int) (time.Duration, error) {
	return 0, errors.New("--server-pid: a server's CPU is read from /proc, on Linux only")
}
