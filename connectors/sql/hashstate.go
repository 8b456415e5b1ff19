package sqlconn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// The row hashes of a hash-mode entity outlive a restart in a file under
// state_dir, one per committed version of the state. The position names the
// version (position.Hash), so the state a restart loads describes exactly
// what the hub had acknowledged: a file is written when a pass that
// published something ends, and only a record handed out after the pass's
// last one carries its version. A crash before that record is acknowledged
// restarts from the previous version, which republishes that pass's changes
// (no-ops in the hub) rather than losing them.
//
// Why a file and not the position: the position travels with every record
// (and over gRPC for a plugin), so it must stay small; the per-row state of
// a million rows is megabytes.
//
// File layout: magic, then per row in key order uvarint(len(key)), key,
// 8-byte little-endian content hash; then a CRC-32 of all before it, so a
// torn file is refused rather than read as a state that lacks rows.

const hashStateMagic = "crmhub-sql-hash-v1\n"

// rowSum is the content hash of a row's JSON: stable across processes (the
// state is compared after a restart), unlike maphash.
func rowSum(payload []byte) uint64 {
	h := fnv.New64a()
	h.Write(payload)
	return h.Sum64()
}

// hashStateFile is where version ver of entity e's state lives. The name
// carries a digest of what the rows are read from, so two sources sharing
// a state_dir, or an entity whose table or query changed, never read each
// other's state.
func (s *Source) hashStateFile(e *entity, ver uint32) string {
	return filepath.Join(s.cfg.StateDir, fmt.Sprintf("%s.%d.hash", s.hashStatePrefix(e), ver))
}

func (s *Source) hashStatePrefix(e *entity) string {
	h := fnv.New64a()
	for _, p := range []string{s.cfg.Driver, s.cfg.DSN, e.cfg.Table, e.cfg.Query, e.cfg.Key, s.cfg.Timezone} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	for _, c := range e.cfg.Children {
		for _, p := range []string{c.Name, c.Table, c.Key, c.ParentKey, c.OrderBy} {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	return fmt.Sprintf("%s-%016x", safeFileName(e.cfg.Name), h.Sum64())
}

// safeFileName keeps letters, digits, '-' and '_' of an entity name.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// saveHashState writes rows as version ver of e's state: to a temporary
// file, synced, then renamed, so a file under its final name is whole.
func (s *Source) saveHashState(e *entity, ver uint32, rows map[string]hashRow) error {
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	path := s.hashStateFile(e, ver)
	f, err := os.CreateTemp(s.cfg.StateDir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("sql: entity %s: write hash state: %w", e.cfg.Name, err)
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	crc := crc32.NewIEEE()
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<16)
	w.WriteString(hashStateMagic)
	var buf [binary.MaxVarintLen64 + 8]byte
	for _, k := range keys {
		n := binary.PutUvarint(buf[:], uint64(len(k)))
		w.Write(buf[:n])
		w.WriteString(k)
		binary.LittleEndian.PutUint64(buf[:8], rows[k].sum)
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
		return fmt.Errorf("sql: entity %s: write hash state %s: %w", e.cfg.Name, path, err)
	}
	return nil
}

// loadHashState reads version ver of e's state; fs.ErrNotExist when there
// is no such file.
func (s *Source) loadHashState(e *entity, ver uint32) (map[string]hashRow, error) {
	path := s.hashStateFile(e, ver)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sql: entity %s: read hash state: %w", e.cfg.Name, err)
	}
	bad := func(why string) error {
		return fmt.Errorf("sql: entity %s: hash state %s is damaged (%s)", e.cfg.Name, path, why)
	}
	if len(b) < len(hashStateMagic)+4 || string(b[:len(hashStateMagic)]) != hashStateMagic {
		return nil, bad("no header")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, bad("checksum")
	}
	rows := map[string]hashRow{}
	for p := body[len(hashStateMagic):]; len(p) > 0; {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n+8 {
			return nil, bad("truncated row")
		}
		key := string(p[k : k+int(n)])
		p = p[k+int(n):]
		rows[key] = hashRow{sum: binary.LittleEndian.Uint64(p[:8])}
		p = p[8:]
	}
	return rows, nil
}

// removeHashStates deletes e's state files whose version is not keep
// (older: superseded; newer: written by a pass whose end was never
// acknowledged). below, when set, limits it to versions below keep.
func (s *Source) removeHashStates(e *entity, keep uint32, below bool) {
	prefix := s.hashStatePrefix(e) + "."
	ents, err := os.ReadDir(s.cfg.StateDir)
	if err != nil {
		return
	}
	for _, de := range ents {
		name := de.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		v, ok := strings.CutSuffix(rest, ".hash")
		ver, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || uint32(ver) == keep || below && uint32(ver) > keep {
			continue
		}
		if err := os.Remove(filepath.Join(s.cfg.StateDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("sql: remove an old hash state file", "entity", e.cfg.Name, "err", err)
		}
	}
}

// hashAcks is, per hash-mode entity, the state version last acknowledged,
// so Ack removes superseded files once per version, not once per batch.
type hashAcks struct {
	mu  sync.Mutex
	ver map[string]uint32
}

// openHashState loads the state version the position names, and removes
// the entity's other state files.
func (s *Source) openHashState(e *entity) error {
	if e.cfg.ChangeDetection != "hash" {
		return nil
	}
	if s.cfg.StateDir == "" {
		s.log.Warn("sql: change_detection hash without state_dir: a restart republishes every row and misses deletes made while stopped",
			"entity", e.cfg.Name)
		return nil
	}
	if err := os.MkdirAll(s.cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("sql: state_dir: %w", err)
	}
	ver := s.pos.Hash[e.cfg.Name]
	if ver > 0 {
		rows, err := s.loadHashState(e, ver)
		if err != nil {
			// Safe, only costly: the first pass publishes every row
			// again; deletes made while stopped are missed.
			s.log.Error("sql: hash state not loaded; the first pass republishes every row", "entity", e.cfg.Name, "err", err)
			ver = 0
			delete(s.pos.Hash, e.cfg.Name)
		} else {
			e.hash.rows = rows
		}
	}
	e.hash.ver = ver
	s.removeHashStates(e, ver, false)
	return nil
}

// ackHashState removes the state files an acknowledged position has
// superseded.
func (s *Source) ackHashState(pos sdk.Position) {
	if s.cfg.StateDir == "" || !bytes.Contains(pos, []byte(`"hash":`)) {
		return
	}
	var p position
	if json.Unmarshal(pos, &p) != nil {
		return
	}
	s.hashAck.mu.Lock()
	defer s.hashAck.mu.Unlock()
	if s.hashAck.ver == nil {
		s.hashAck.ver = map[string]uint32{}
	}
	for _, e := range s.entities {
		v := p.Hash[e.cfg.Name]
		if v == 0 || v <= s.hashAck.ver[e.cfg.Name] {
			continue
		}
		s.hashAck.ver[e.cfg.Name] = v
		s.removeHashStates(e, v, true)
	}
}
