package sdk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The packed batch layout carries a Read batch in one protobuf bytes field
// (ReadResponse.packed) instead of one message per record. A message per
// record costs both processes a few allocations per record and the host a
// copy of every payload; packed, the host receives one buffer and the
// records' payloads and positions are slices of it.
//
// Layout: a uvarint record count, then per record:
//
//	flags      uvarint: 1 updated_at set, 2 meta present
//	entity     uvarint length + bytes
//	id         uvarint length + bytes
//	op         uvarint length + bytes
//	updated_at varint unix seconds + uvarint nanoseconds (flag 1 only)
//	payload    uvarint length + bytes
//	position   uvarint length + bytes
//	error      uvarint length + bytes
//	meta       uvarint pair count + (key, value) length-prefixed (flag 2 only)
//
// The layout belongs to protocol version 1: it may only grow by new flag
// bits that an older decoder refuses with a clear error.
const (
	packedUpdatedAt = 1 << iota
	packedMeta
	packedKnown = packedUpdatedAt | packedMeta
)

// errPacked marks a packed batch that cannot be decoded: a plugin built
// against a different SDK, or corruption.
var errPacked = errors.New("malformed packed batch")

// packedSize estimates the packed size of recs so the buffer is allocated once.
func packedSize(recs []Record) int {
	n := binary.MaxVarintLen64
	for i := range recs {
		r := &recs[i]
		n += 8*binary.MaxVarintLen64 + len(r.Entity) + len(r.ID) + len(r.Op) +
			len(r.Payload) + len(r.Position) + len(r.Error)
		for k, v := range r.Meta {
			n += 2*binary.MaxVarintLen64 + len(k) + len(v)
		}
	}
	return n
}

// packBatch encodes recs in the packed layout, appending to buf.
func packBatch(buf []byte, recs []Record) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(recs)))
	for i := range recs {
		r := &recs[i]
		var flags uint64
		if !r.UpdatedAt.IsZero() {
			flags |= packedUpdatedAt
		}
		if r.Meta != nil {
			flags |= packedMeta
		}
		buf = binary.AppendUvarint(buf, flags)
		buf = appendBytes(buf, r.Entity)
		buf = appendBytes(buf, r.ID)
		buf = appendBytes(buf, r.Op)
		if flags&packedUpdatedAt != 0 {
			buf = binary.AppendVarint(buf, r.UpdatedAt.Unix())
			buf = binary.AppendUvarint(buf, uint64(r.UpdatedAt.Nanosecond()))
		}
		buf = appendBytes(buf, r.Payload)
		buf = appendBytes(buf, r.Position)
		buf = appendBytes(buf, r.Error)
		if flags&packedMeta != 0 {
			buf = binary.AppendUvarint(buf, uint64(len(r.Meta)))
			for k, v := range r.Meta {
				buf = appendBytes(buf, k)
				buf = appendBytes(buf, v)
			}
		}
	}
	return buf
}

func appendBytes[T ~string | ~[]byte](buf []byte, v T) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(v)))
	return append(buf, v...)
}

// unpackBatch decodes a packed batch. Payload and Position of the records
// are slices of b (capacity-limited, so appending to one never overwrites
// the next): b must not be reused by the caller. Entity and Op strings are
// shared between consecutive records that repeat them.
func unpackBatch(b []byte) ([]Record, error) { return unpack(b, false) }

// unpackBatchCopy decodes a packed batch into records that own their
// payloads and positions, so b may be reused at once.
func unpackBatchCopy(b []byte) ([]Record, error) { return unpack(b, true) }

func unpack(b []byte, copied bool) ([]Record, error) {
	d := unpacker{b: b}
	n := d.uvarint()
	// Every record takes at least 8 bytes; a count beyond that is corrupt
	// and must not size an allocation.
	if d.err != nil || n > uint64(len(b)/8+1) {
		return nil, fmt.Errorf("%w: record count %d for %d bytes", errPacked, n, len(b))
	}
	out := make([]Record, n)
	var entity, op string
	for i := range out {
		r := &out[i]
		flags := d.uvarint()
		if flags&^packedKnown != 0 {
			return nil, fmt.Errorf("%w: record %d: unknown flags %#x (plugin built against a newer SDK?)", errPacked, i, flags)
		}
		if e := d.bytes(); string(e) == entity {
			r.Entity = entity
		} else {
			entity = string(e)
			r.Entity = entity
		}
		r.ID = string(d.bytes())
		if o := d.bytes(); string(o) == op {
			r.Op = Operation(op)
		} else {
			op = string(o)
			r.Op = Operation(op)
		}
		if flags&packedUpdatedAt != 0 {
			sec := d.varint()
			nsec := d.uvarint()
			if nsec >= 1e9 {
				d.fail("nanoseconds out of range")
			}
			r.UpdatedAt = time.Unix(sec, int64(nsec)).UTC()
		}
		r.Payload = d.bytes()
		p := d.bytes()
		if copied {
			// Clone skips zeroing the copy: cheaper than the big fresh
			// buffer it replaces.
			r.Payload = bytes.Clone(r.Payload)
			p = bytes.Clone(p)
		}
		if p != nil {
			r.Position = Position(p)
		}
		r.Error = string(d.bytes())
		if flags&packedMeta != 0 {
			m := d.uvarint()
			if m > uint64(len(d.b)) {
				d.fail("meta count too large")
				break
			}
			r.Meta = make(map[string]string, m)
			for range m {
				k := string(d.bytes())
				r.Meta[k] = string(d.bytes())
			}
		}
		if d.err != nil {
			return nil, fmt.Errorf("%w: record %d of %d: %v", errPacked, i, n, d.err)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", errPacked, d.err)
	}
	return out, nil
}

type unpacker struct {
	b   []byte
	err error
}

func (d *unpacker) fail(msg string) {
	if d.err == nil {
		d.err = errors.New(msg)
	}
	d.b = nil
}

func (d *unpacker) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *unpacker) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("truncated varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns the next length-prefixed field, nil when empty.
func (d *unpacker) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("field longer than the batch")
		return nil
	}
	if n == 0 {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
