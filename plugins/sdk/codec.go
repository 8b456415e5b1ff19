package sdk

import (
	"encoding/binary"
	"fmt"
	"io"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	protowire "google.golang.org/protobuf/encoding/protowire"

	pluginv1 "github.com/crmhub/crmhub/plugins/proto/v1"
)

// wireCodec is gRPC's protobuf codec with a short cut for the one message
// that carries bulk data, a packed ReadResponse. The plugin hands gRPC its
// packed buffer as is (no re-encoding copy) and gets it back through
// batchPool once gRPC has written it, so a steady read loop reuses the same
// buffers instead of having the runtime fault in and give back a megabyte
// per batch. The host copies the field straight out of gRPC's receive
// buffers into the batch's arena (one copy, not two). The bytes on the
// wire are the standard encoding of ReadResponse, so either side may use
// the plain protobuf codec.
type wireCodec struct{}

// packedTag is ReadResponse.packed's key: field 2, length-delimited.
var packedTag = protowire.EncodeTag(2, protowire.BytesType)

func protoCodec() encoding.CodecV2 { return encoding.GetCodecV2("proto") }

func (wireCodec) Name() string { return "proto" }

func (wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*pluginv1.ReadResponse); ok && r.Packed != nil && len(r.Records) == 0 {
		hdr := protowire.AppendTag(make([]byte, 0, 2*binary.MaxVarintLen64), 2, protowire.BytesType)
		hdr = protowire.AppendVarint(hdr, uint64(len(r.Packed)))
		packed := r.Packed
		// The message must not be read again: the buffer goes back to
		// the pool once gRPC is done with it.
		r.Packed = nil
		return mem.BufferSlice{mem.SliceBuffer(hdr), mem.NewBuffer(&packed, batchPool)}, nil
	}
	return protoCodec().Marshal(v)
}

func (wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*pluginv1.ReadResponse); ok {
		if packed, ok, err := packedField(data); ok || err != nil {
			r.Packed = packed
			return err
		}
	}
	return protoCodec().Unmarshal(data, v)
}

// packedField reads a ReadResponse that holds only the packed field into a
// buffer of its own. ok is false when the message has another shape (an
// older plugin's records): the caller then decodes it the ordinary way.
func packedField(data mem.BufferSlice) (packed []byte, ok bool, err error) {
	total := data.Len()
	var head [1 + binary.MaxVarintLen64]byte
	n := data.CopyTo(head[:])
	tag, tn := protowire.ConsumeVarint(head[:n])
	if tn < 0 || tag != packedTag {
		return nil, false, nil
	}
	size, sn := protowire.ConsumeVarint(head[tn:n])
	if sn < 0 || uint64(total-tn-sn) != size {
		return nil, false, nil
	}
	r := data.Reader()
	defer r.Close()
	skip := make([]byte, tn+sn)
	if _, err := io.ReadFull(r, skip); err != nil {
		return nil, true, fmt.Errorf("read packed batch: %w", err)
	}
	// The records' payloads will be slices of this buffer: it is the
	// batch's arena and never returns to a pool.
	packed = make([]byte, size)
	if _, err := io.ReadFull(r, packed); err != nil {
		return nil, true, fmt.Errorf("read packed batch: %w", err)
	}
	if packed == nil {
		packed = []byte{}
	}
	return packed, true, nil
}

// batchPool holds the plugin's packed-batch buffers. One buffer is in use
// per Read in flight, so a few buffers the size of the largest batch
// suffice. A free list rather than a sync.Pool: the pool is emptied at
// every other GC, and a plugin streaming batches collects often, so
// sync.Pool would hand out a fresh megabyte (and page faults) per batch.
var batchPool = &bytesPool{free: make(chan *[]byte, 4)}

type bytesPool struct{ free chan *[]byte }

var _ mem.BufferPool = (*bytesPool)(nil)

// Get returns a buffer of length n.
func (b *bytesPool) Get(n int) *[]byte {
	select {
	case v := <-b.free:
		if cap(*v) >= n {
			*v = (*v)[:n]
			return v
		}
	default:
	}
	buf := make([]byte, n)
	return &buf
}

// Put keeps buf for reuse unless the free list is full.
func (b *bytesPool) Put(buf *[]byte) {
	*buf = (*buf)[:0]
	select {
	case b.free <- buf:
	default:
	}
}
