package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/crmhub/crmhub/connectors/internal/statefile"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// The fingerprints of emitted records (entity.seen) outlive a restart in
// versioned files under state_dir (connectors/internal/statefile, shared
// with the sql source). The position names each entity's version
// (entityPos.State): a version is written when a pass that changed seen
// ends, and only the pass's last record, or the next one handed out,
// carries it. A restart therefore loads the fingerprints of records the hub
// acknowledged and never of one it did not: a crash before the pass's last
// record is acknowledged loads the previous version and emits that pass's
// records again (no-ops in the hub) rather than losing them.
//
// A restart in the middle of a pass resumes it with the version its
// position names, which lacks the fingerprints of the records of the
// running pass already acknowledged: they are emitted once more by the next
// pass. Saving every page instead would rewrite the whole state per page.

const stateMagic = "crmhub-rest-seen-v1\n"

// entityState is an entity's saved-state bookkeeping.
type entityState struct {
	on    bool // state_dir is set
	store statefile.Store
	ver   uint32 // the version seen started from or was last saved as
	dirty bool   // seen changed since ver
}

// stateAcks is, per entity, the state version last acknowledged, so Ack
// removes superseded files once per version, not once per batch.
type stateAcks struct {
	mu  sync.Mutex
	ver map[string]uint32
}

// openState loads the fingerprints of the version the position names and
// removes the entity's other state files.
func (s *Source) openState(e *entity) error {
	name := e.cfg.Name
	ep := s.pos.Entities[name]
	if s.cfg.StateDir == "" {
		if e.cfg.Deletes == "missing" {
			s.log.Warn("rest: deletes: missing without state_dir: records deleted while crmhub is stopped are not deleted", "entity", name)
		}
		if ep.State != 0 {
			ep.State = 0
			s.pos.Entities[name] = ep
		}
		return nil
	}
	if err := os.MkdirAll(s.cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("rest: state_dir: %w", err)
	}
	// The file name carries a digest of where the records come from and
	// how they are fingerprinted: a changed endpoint or id field never
	// reads another's fingerprints.
	e.state = entityState{on: true, store: statefile.Store{
		Dir:    s.cfg.StateDir,
		Prefix: statefile.Prefix(name, s.cfg.BaseURL, e.cfg.Path, e.cfg.Records, e.cfg.ID, e.cfg.UpdatedAt),
		Ext:    ".seen",
		Magic:  stateMagic,
	}}
	ver := ep.State
	if ver > 0 {
		err := e.state.store.Load(ver, func(id string, fp uint64) { e.seen[id] = seenEntry{fp: fp} })
		if err != nil {
			// Safe, only costly: the first pass emits every record
			// again (no-ops in the hub); deletes made while stopped are
			// missed.
			s.log.Warn("rest: saved fingerprints not loaded; the next pass emits every record again", "entity", name, "err", err)
			clear(e.seen)
			ver = 0
			ep.State = 0
			s.pos.Entities[name] = ep
		}
	}
	e.state.ver = ver
	if err := e.state.store.Remove(ver, false); err != nil {
		s.log.Warn("rest: remove old state files", "entity", name, "err", err)
	}
	return nil
}

// commitState saves seen as a new version when it changed since the last
// one, and returns that version.
func (s *Source) commitState(e *entity) (uint32, bool) {
	st := &e.state
	if !st.on || !st.dirty {
		return 0, false
	}
	ver := st.ver + 1
	err := st.store.Save(ver, func(yield func(string, uint64) bool) {
		for id, se := range e.seen {
			if !yield(id, se.fp) {
				return
			}
		}
	})
	if err != nil {
		// The pass's records still go out; a restart then starts from
		// the previous version and emits them again (no-ops in the hub).
		s.log.Error("rest: fingerprints not saved; a restart emits this pass's records again", "entity", e.cfg.Name, "err", err)
		return 0, false
	}
	st.ver, st.dirty = ver, false
	return ver, true
}

// gone returns, in id order, the records a complete pass of a deletes:
// missing entity did not return, and forgets them.
func (s *Source) gone(e *entity) []string {
	if e.cfg.Deletes != "missing" || !e.fromStart {
		return nil
	}
	if e.returned == 0 && len(e.seen) > 0 {
		// An empty collection is far likelier an API hiccup (a wrong
		// token scope, a filter) than every record deleted.
		s.log.Warn("rest: a complete pass returned no records; not deleting the records emitted before", "entity", e.cfg.Name, "known", len(e.seen))
		return nil
	}
	var ids []string
	for id, se := range e.seen {
		if se.gen != e.gen {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		delete(e.seen, id)
	}
	if len(ids) > 0 {
		e.state.dirty = true
	}
	// In id order, so a pass's output does not depend on map order.
	slices.Sort(ids)
	return ids
}

// Ack removes the state files an acknowledged position has superseded.
func (s *Source) Ack(_ context.Context, pos sdk.Position) error {
	if s.cfg.StateDir == "" || !bytes.Contains(pos, []byte(`"state":`)) {
		return nil
	}
	var p position
	if json.Unmarshal(pos, &p) != nil {
		return nil
	}
	s.acks.mu.Lock()
	defer s.acks.mu.Unlock()
	if s.acks.ver == nil {
		s.acks.ver = map[string]uint32{}
	}
	for _, e := range s.entities {
		v := p.Entities[e.cfg.Name].State
		if !e.state.on || v == 0 || v <= s.acks.ver[e.cfg.Name] {
			continue
		}
		s.acks.ver[e.cfg.Name] = v
		if err := e.state.store.Remove(v, true); err != nil {
			s.log.Warn("rest: remove old state files", "entity", e.cfg.Name, "err", err)
		}
	}
	return nil
}
