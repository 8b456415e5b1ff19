//go:build unix

package sdk

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

const bulkSocketBuffer = 4 << 20

// socketPair returns two connected stream sockets: the host's end as a
// net.Conn, the plugin's as a file to inherit.
func socketPair() (net.Conn, *os.File, error) {
	// Close-on-exec at once, so that no other child started meanwhile
	// inherits an end (SOCK_CLOEXEC is not on every unix).
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	// Room for a whole batch in the socket, so the plugin writes it in one
	// go and the host reads it in a few calls, not a ping-pong of 200 KB
	// slices. The kernel caps the size at net.core.wmem_max; failing to
	// raise it only costs speed.
	for _, fd := range fds {
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, bulkSocketBuffer)
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, bulkSocketBuffer)
	}
	hostFile := os.NewFile(uintptr(fds[0]), "crmhub-bulk-host")
	defer hostFile.Close() // FileConn holds its own duplicate
	host, err := net.FileConn(hostFile)
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return host, os.NewFile(uintptr(fds[1]), "crmhub-bulk-plugin"), nil
}
