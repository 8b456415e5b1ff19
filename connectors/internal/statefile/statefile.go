package statefile

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Store is the versioned state of one entity of one source: files named
// <Prefix>.<version><Ext> in Dir.
//
// File layout: Magic, then per key in key order uvarint(len(key)), key,
// 8-byte little-endian value; then a CRC-32 of all before it, so a torn
// file is refused rather than read as a state that lacks keys.
type Store struct {
	Dir    string
	Prefix string // from Prefix(), so sources sharing Dir never collide
	Ext    string // e.g. ".hash"
	Magic  string // identifies the file kind and format version
}

// Prefix is a file name prefix for entity name whose state depends on
// parts (what the records are read from and how they are fingerprinted):
// the name's letters, digits, '-' and '_', then a digest of parts, so two
// sources sharing a directory, or an entity whose configuration changed,
// never read each other's state.
func Prefix(name string, parts ...string) string {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%s-%016x", safeFileName(name), h.Sum64())
}

func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// Path is the file of version ver.
func (s Store) Path(ver uint32) string {
	return filepath.Join(s.Dir, s.Prefix+"."+strconv.FormatUint(uint64(ver), 10)+s.Ext)
}

// Save writes the keys and values of rows as version ver: to a temporary
// file, synced, then renamed, so a file under its final name is whole.
func (s Store) Save(ver uint32, rows iter.Seq2[string, uint64]) error {
	type kv struct {
		k string
		v uint64
	}
	var all []kv
	for k, v := range rows {
		all = append(all, kv{k, v})
	}
	// Sorted, so equal states give equal files.
	slices.SortFunc(all, func(a, b kv) int { return cmp.Compare(a.k, b.k) })
	path := s.Path(ver)
	f, err := os.CreateTemp(s.Dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	crc := crc32.NewIEEE()
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<16)
	w.WriteString(s.Magic)
	var buf [binary.MaxVarintLen64 + 8]byte
	for _, r := range all {
		n := binary.PutUvarint(buf[:], uint64(len(r.k)))
		w.Write(buf[:n])
		w.WriteString(r.k)
		binary.LittleEndian.PutUint64(buf[:8], r.v)
		w.Write(buf[:8])
	}
	err = w.Flush()
	if err == nil {
		binary.LittleEndian.PutUint32(buf[:4], crc.Sum32())
		_, err = f.Write(buf[:4])
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	return nil
}

// ErrDamaged is wrapped by Load's error for a file that is not a whole
// state file of this Store's kind.
var ErrDamaged = errors.New("state file is damaged")

// Load calls add for every key and value of version ver. Its error wraps
// fs.ErrNotExist when there is no such file, ErrDamaged when the file is
// torn or of another kind; add may then have been called for some keys.
func (s Store) Load(ver uint32, add func(key string, v uint64)) error {
	path := s.Path(ver)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	bad := func(why string) error { return fmt.Errorf("%w: %s (%s)", ErrDamaged, path, why) }
	if len(b) < len(s.Magic)+4 || string(b[:len(s.Magic)]) != s.Magic {
		return bad("no header")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return bad("checksum")
	}
	for p := body[len(s.Magic):]; len(p) > 0; {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n+8 {
			return bad("truncated row")
		}
		key := string(p[k : k+int(n)])
		p = p[k+int(n):]
		add(key, binary.LittleEndian.Uint64(p[:8]))
		p = p[8:]
	}
	return nil
}

// Remove deletes the Store's files (bases and logs) whose version is not
// keep (older: superseded; newer: written by a pass whose end was never
// acknowledged), or with below set only those older than keep.
func (s Store) Remove(keep uint32, below bool) error {
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return fmt.Errorf("list state files: %w", err)
	}
	var errs []error
	for _, de := range ents {
		name := de.Name()
		rest, ok := strings.CutPrefix(name, s.Prefix+".")
		if !ok {
			continue
		}
		v, ok := strings.CutSuffix(rest, s.Ext)
		if !ok {
			v, ok = strings.CutSuffix(rest, logExt)
		}
		ver, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || uint32(ver) == keep || below && uint32(ver) > keep {
			continue
		}
		if err := os.Remove(filepath.Join(s.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove old state file: %w", err))
		}
	}
	return errors.Join(errs...)
}
