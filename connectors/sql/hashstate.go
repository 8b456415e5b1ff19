package sqlconn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"sync"

	"github.com/crmhub/crmhub/connectors/internal/statefile"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// The row hashes of a hash-mode entity outlive a restart in a file under
// state_dir, one per committed version of the state, written and read by
// connectors/internal/statefile (which says why versions and why files).
// The position names the version (position.Hash): a file is written when
// a pass that published something ends, and only a record handed out
// after the pass's last one carries its version.

const hashStateMagic = "crmhub-sql-hash-v1\n"

// rowSum is the content hash of a row's JSON: stable across processes (the
// state is compared after a restart), unlike maphash.
func rowSum(payload []byte) uint64 {
	h := fnv.New64a()
	h.Write(payload)
	return h.Sum64()
}

// hashStore is where entity e's state versions live. The file names carry
// a digest of what the rows are read from, so two sources sharing a
// state_dir, or an entity whose table or query changed, never read each
// other's state.
func (s *Source) hashStore(e *entity) statefile.Store {
	parts := []string{s.cfg.Driver, s.cfg.DSN, e.cfg.Table, e.cfg.Query, e.cfg.Key, s.cfg.Timezone}
	for _, c := range e.cfg.Children {
		parts = append(parts, c.Name, c.Table, c.Key, c.ParentKey, c.OrderBy)
	}
	return statefile.Store{Dir: s.cfg.StateDir, Prefix: statefile.Prefix(e.cfg.Name, parts...), Ext: ".hash", Magic: hashStateMagic}
}

// hashStateFile is where version ver of entity e's state lives.
func (s *Source) hashStateFile(e *entity, ver uint32) string { return s.hashStore(e).Path(ver) }

// saveHashState writes rows as version ver of e's state.
func (s *Source) saveHashState(e *entity, ver uint32, rows map[string]hashRow) error {
	err := s.hashStore(e).Save(ver, func(yield func(string, uint64) bool) {
		for k, r := range rows {
			if !yield(k, r.sum) {
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("sql: entity %s: hash state: %w", e.cfg.Name, err)
	}
	return nil
}

// loadHashState reads version ver of e's state; its error wraps
// fs.ErrNotExist when there is no such file.
func (s *Source) loadHashState(e *entity, ver uint32) (map[string]hashRow, error) {
	rows := map[string]hashRow{}
	if err := s.hashStore(e).Load(ver, func(k string, sum uint64) { rows[k] = hashRow{sum: sum} }); err != nil {
		return nil, fmt.Errorf("sql: entity %s: hash state: %w", e.cfg.Name, err)
	}
	return rows, nil
}

// removeHashStates deletes e's state files whose version is not keep
// (older: superseded; newer: written by a pass whose end was never
// acknowledged). below, when set, limits it to versions below keep.
func (s *Source) removeHashStates(e *entity, keep uint32, below bool) {
	if err := s.hashStore(e).Remove(keep, below); err != nil {
		s.log.Warn("sql: remove an old hash state file", "entity", e.cfg.Name, "err", err)
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
