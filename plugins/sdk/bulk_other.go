//go:build !unix

package sdk

import (
	"errors"
	"net"
	"os"
)

// socketPair: without socket pairs batches travel inline over gRPC.
func socketPair() (net.Conn, *os.File, error) { return nil, nil, errors.ErrUnsupported }
