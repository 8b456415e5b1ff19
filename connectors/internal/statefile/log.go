package statefile

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
)

// A version's log holds the changes made after its base file was written,
// appended a page at a time, so a position can name the state at any
// record, not only at the end of a pass: the position carries the version
// and the log offset after the record's own entry, and a restart loads the
// base and replays the log up to that offset. Entries past the offset were
// never acknowledged and are ignored.
//
// Entry layout: a kind byte (0 set, 1 delete), uvarint(len(key)), key,
// 8-byte little-endian value (set only), CRC-32 of the entry's bytes
// before it. Appends are not synced: a process crash keeps what was
// written; if the machine's crash loses the tail a position names, Replay
// reports it and the source falls back to the base, which only costs
// emitting some records again.

const logExt = ".log"

// LogPath is the log file of version ver.
func (s Store) LogPath(ver uint32) string {
	return filepath.Join(s.Dir, s.Prefix+"."+strconv.FormatUint(uint64(ver), 10)+logExt)
}

// Batch collects log entries to append in one write.
type Batch struct{ b []byte }

// Set adds key = v and returns the batch's length after the entry.
func (b *Batch) Set(key string, v uint64) int { return b.add(0, key, v) }

// Delete adds the removal of key and returns the batch's length after it.
func (b *Batch) Delete(key string) int { return b.add(1, key, 0) }

func (b *Batch) add(kind byte, key string, v uint64) int {
	start := len(b.b)
	b.b = append(b.b, kind)
	b.b = binary.AppendUvarint(b.b, uint64(len(key)))
	b.b = append(b.b, key...)
	if kind == 0 {
		b.b = binary.LittleEndian.AppendUint64(b.b, v)
	}
	b.b = binary.LittleEndian.AppendUint32(b.b, crc32.ChecksumIEEE(b.b[start:]))
	return len(b.b)
}

// Len is the batch's length in bytes.
func (b *Batch) Len() int { return len(b.b) }

// Log is a version's log open for appending.
type Log struct {
	f      *os.File
	off    int64
	broken error
}

// CreateLog creates version ver's log, empty (a log left by a run whose
// entries were never acknowledged is truncated).
func (s Store) CreateLog(ver uint32) (*Log, error) {
	f, err := os.OpenFile(s.LogPath(ver), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create state log: %w", err)
	}
	return &Log{f: f}, nil
}

// Append writes b at the end of the log and returns the offset it starts
// at. After a failed write the log refuses every later one, so an offset
// it returned always covers whole entries.
func (l *Log) Append(b *Batch) (int64, error) {
	if l.broken != nil {
		return l.off, l.broken
	}
	start := l.off
	if len(b.b) == 0 {
		return start, nil
	}
	if _, err := l.f.Write(b.b); err != nil {
		l.broken = fmt.Errorf("append to state log %s: %w", l.f.Name(), err)
		return start, l.broken
	}
	l.off += int64(len(b.b))
	return start, nil
}

// Offset is the length of the entries appended.
func (l *Log) Offset() int64 { return l.off }

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }

// Replay calls set and del for version ver's log entries up to offset
// upTo, in order. Its error wraps ErrDamaged when the log is shorter than
// upTo or an entry before it is torn; the calls made before then stand.
func (s Store) Replay(ver uint32, upTo int64, set func(key string, v uint64), del func(key string)) error {
	if upTo == 0 {
		return nil
	}
	path := s.LogPath(ver)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read state log: %w", err)
	}
	if int64(len(b)) < upTo {
		return fmt.Errorf("%w: %s is %d bytes, the position names %d", ErrDamaged, path, len(b), upTo)
	}
	b = b[:upTo]
	for len(b) > 0 {
		kind := b[0]
		n, k := binary.Uvarint(b[1:])
		size := 1 + k + int(n) + 4
		if kind == 0 {
			size += 8
		}
		if kind > 1 || k <= 0 || n > uint64(len(b)) || size > len(b) {
			return fmt.Errorf("%w: %s: torn entry", ErrDamaged, path)
		}
		if crc32.ChecksumIEEE(b[:size-4]) != binary.LittleEndian.Uint32(b[size-4:size]) {
			return fmt.Errorf("%w: %s: entry checksum", ErrDamaged, path)
		}
		key := string(b[1+k : 1+k+int(n)])
		if kind == 0 {
			set(key, binary.LittleEndian.Uint64(b[1+k+int(n):]))
		} else {
			del(key)
		}
		b = b[size:]
	}
	return nil
}
