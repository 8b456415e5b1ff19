package sdk

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
)

// The bulk channel carries Read batches beside gRPC. gRPC moves a megabyte
// batch as 64 HTTP/2 frames, each a hand-over between goroutines and a
// flow-control update; on a 2-core machine that costs more than the
// connector takes to produce the batch. The bulk channel is a plain
// socket pair the host creates before starting the plugin: the plugin
// writes each packed batch to it as one frame and answers the Read RPC
// with the frame's sequence number only, and a host goroutine reads the
// frames as they come. gRPC still carries the call, its errors and
// cancellation; the channel carries only bytes.
//
// A frame is a 12-byte header (sequence number uint64, length uint32, big
// endian) and the packed batch. Sequence numbers start at 1 and grow by one
// per frame. A Read the host gave up on (context cancelled) may still leave
// its frame on the channel; the host drops frames older than the one it
// waits for.
//
// It is optional on both sides: a plugin started without the channel, or
// built before it existed, answers inline; a host that does not ask for it
// gets the batch inline.

// bulkEnv names the variable that tells the plugin which inherited file
// descriptor is its end of the bulk channel.
const bulkEnv = "CRMHUB_PLUGIN_BULK_FD"

const bulkHeader = 12

// bulkChannel is the host's side of one plugin process's bulk channel.
type bulkChannel struct {
	host   net.Conn
	plugin *os.File
	reader *bulkReader
}

// newBulkChannel creates a bulk channel for a plugin process about to be
// started. It returns errors.ErrUnsupported where the platform has no
// socket pairs; the plugin then works without one.
func newBulkChannel() (*bulkChannel, error) {
	host, plugin, err := socketPair()
	if err != nil {
		return nil, fmt.Errorf("bulk channel: %w", err)
	}
	return &bulkChannel{host: host, plugin: plugin}, nil
}

// Prepare hands the plugin's end to cmd, which must not have started.
func (c *bulkChannel) Prepare(cmd *exec.Cmd) {
	// ExtraFiles[i] becomes descriptor 3+i in the child.
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, c.plugin)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, bulkEnv+"="+strconv.Itoa(fd))
}

// Started closes the host's copy of the plugin's end once the plugin runs,
// so that the host sees the channel end when the plugin exits.
func (c *bulkChannel) Started() {
	if c.plugin != nil {
		c.plugin.Close()
		c.plugin = nil
	}
}

// Attach makes src, a Source dispensed from the plugin process this channel
// was prepared for, read its batches from the channel. It reports false
// when src is not such a source; the caller then closes the channel.
func (c *bulkChannel) Attach(src any) bool {
	s, ok := src.(*sourceClient)
	if !ok {
		return false
	}
	c.reader = newBulkReader(c.host)
	s.bulk = c.reader
	return true
}

// Close closes the host's end; a reader attached to it stops.
func (c *bulkChannel) Close() error {
	c.Started()
	if c.reader != nil {
		c.reader.stop()
	}
	return c.host.Close()
}

// bulkReader reads frames on the host side as the plugin writes them, so
// that the plugin never blocks on a full socket while the host waits for
// the RPC's answer.
type bulkReader struct {
	frames chan bulkFrame
	// free holds frame buffers the host has decoded: reusing them spares
	// both processes' runtimes a fresh megabyte per batch (zeroing, page
	// faults, and the scavenger giving it back).
	free     chan []byte
	done     chan struct{}
	stopOnce sync.Once
	// err is why the reader stopped; read it only after frames is closed.
	err error
}

type bulkFrame struct {
	seq  uint64
	data []byte
}

func newBulkReader(conn net.Conn) *bulkReader {
	// One frame waiting here and one being read bounds what the channel
	// holds beyond what the host asked for.
	r := &bulkReader{frames: make(chan bulkFrame, 1), free: make(chan []byte, 3), done: make(chan struct{})}
	go r.loop(conn)
	return r
}

func (r *bulkReader) loop(conn net.Conn) {
	defer close(r.frames)
	var hdr [bulkHeader]byte
	for {
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			r.err = err
			return
		}
		seq := binary.BigEndian.Uint64(hdr[:8])
		n := binary.BigEndian.Uint32(hdr[8:])
		if n > maxMessage {
			r.err = fmt.Errorf("%w: frame %d of %d bytes exceeds %d", errPacked, seq, n, maxMessage)
			conn.Close()
			return
		}
		var data []byte
		select {
		case data = <-r.free:
		default:
		}
		if cap(data) < int(n) {
			data = make([]byte, n)
		}
		data = data[:n]
		if _, err := io.ReadFull(conn, data); err != nil {
			r.err = err
			return
		}
		select {
		case r.frames <- bulkFrame{seq: seq, data: data}:
		case <-r.done:
			r.err = net.ErrClosed
			return
		}
	}
}

// release returns a frame's buffer once nothing refers to it.
func (r *bulkReader) release(b []byte) {
	select {
	case r.free <- b[:0]:
	default:
	}
}

func (r *bulkReader) stop() { r.stopOnce.Do(func() { close(r.done) }) }

// frame waits for the frame with sequence number seq.
func (r *bulkReader) frame(ctx context.Context, seq uint64) ([]byte, error) {
	for {
		select {
		case f, ok := <-r.frames:
			switch {
			case !ok:
				return nil, fmt.Errorf("%w: bulk channel: %v", ErrTransport, r.err)
			case f.seq == seq:
				return f.data, nil
			case f.seq > seq:
				return nil, fmt.Errorf("%w: bulk frame %d arrived while waiting for %d", errPacked, f.seq, seq)
			}
			// An older frame belongs to a Read the host gave up on.
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// bulkWriter is the plugin's side.
type bulkWriter struct {
	mu   sync.Mutex
	conn net.Conn
	seq  uint64
}

// openBulkWriter opens the channel the host announced, nil without one.
func openBulkWriter() (*bulkWriter, error) {
	v := os.Getenv(bulkEnv)
	if v == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not a file descriptor", bulkEnv, v)
	}
	f := os.NewFile(uintptr(fd), "crmhub-bulk")
	if f == nil {
		return nil, fmt.Errorf("%s=%d: no such file descriptor", bulkEnv, fd)
	}
	defer f.Close() // FileConn holds its own duplicate
	conn, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("%s=%d: %w", bulkEnv, fd, err)
	}
	return &bulkWriter{conn: conn}, nil
}

// write sends one packed batch as the next frame and returns its sequence
// number. A frame is written whole even when the Read that asked for it was
// cancelled: half a frame would garble every later one.
func (w *bulkWriter) write(packed []byte) (uint64, error) {
	if len(packed) > maxMessage {
		return 0, fmt.Errorf("batch of %d bytes exceeds %d", len(packed), maxMessage)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	var hdr [bulkHeader]byte
	binary.BigEndian.PutUint64(hdr[:8], w.seq)
	binary.BigEndian.PutUint32(hdr[8:], uint32(len(packed)))
	bufs := net.Buffers{hdr[:], packed}
	if _, err := bufs.WriteTo(w.conn); err != nil {
		return 0, fmt.Errorf("bulk channel: %w", err)
	}
	return w.seq, nil
}
