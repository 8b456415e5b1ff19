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
// state_dir (connectors/internal/statefile, shared with the sql source): a
// base file per version, written when a pass that changed them ends, and
// the version's log, to which each page appends the fingerprints of the
// records it emits (and the deletes) before they go out. Each record's
// position names the version and the log length up to its own entry
// (entityPos.State, Log), so a restart loads exactly the fingerprints of
// the records the hub acknowledged, mid-pass too, and never one of a
// record it did not: a crash before a record is acknowledged restarts
// without its fingerprint and emits it again (a no-op in the hub) rather
// than losing it.
//
// A restart that replayed a log writes the result as the next version at
// once, so this run's log starts empty and never continues one whose
// unacknowledged tail a restart truncates. A log that cannot be written or
// replayed only costs emitting records again: positions then name the last
// offset known to be good.

const stateMagic = "crmhub-rest-seen-v1\n"

// entityState is an entity's saved-state bookkeeping.
type entityState struct {
	on    bool // state_dir is set
	store statefile.Store
	ver   uint32 // the version seen started from or was last saved as
	dirty bool   // seen changed since ver's base
	log   *statefile.Log
}

func (st *entityState) closeLog() {
	if st.log != nil {
		st.log.Close()
		st.log = nil
	}
}

// stateAcks is, per entity, the state version last acknowledged, so Ack
// removes superseded files once per version, not once per batch.
type stateAcks struct {
	mu  sync.Mutex
	ver map[string]uint32
}

// openState loads the fingerprints the position names, removes the
// entity's other state files and opens the log this run appends to.
func (s *Source) openState(e *entity) error {
	name := e.cfg.Name
	ep := s.pos.Entities[name]
	if s.cfg.StateDir == "" {
		if e.cfg.Deletes == "missing" {
			s.log.Warn("rest: deletes: missing without state_dir: records deleted while crmhub is stopped are not deleted", "entity", name)
		}
		if ep.State != 0 || ep.Log != 0 {
			ep.State, ep.Log = 0, 0
			s.pos.Entities[name] = ep
		}
		return nil
	}
	if err := os.MkdirAll(s.cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("rest: state_dir: %w", err)
	}
	// The file names carry a digest of where the records come from and
	// how they are fingerprinted: a changed endpoint or id field never
	// reads another's fingerprints.
	e.state = entityState{on: true, ver: ep.State, store: statefile.Store{
		Dir:    s.cfg.StateDir,
		Prefix: statefile.Prefix(name, s.cfg.BaseURL, e.cfg.Path, e.cfg.Records, e.cfg.ID, e.cfg.UpdatedAt),
		Ext:    ".seen",
		Magic:  stateMagic,
	}}
	st := &e.state
	lost := false
	if st.ver > 0 {
		if err := st.store.Load(st.ver, func(id string, fp uint64) { e.seen[id] = seenEntry{fp: fp} }); err != nil {
			// Safe, only costly: the first pass emits every record
			// again (no-ops in the hub); deletes made while stopped are
			// missed.
			s.log.Warn("rest: saved fingerprints not loaded; the next pass emits every record again", "entity", name, "err", err)
			clear(e.seen)
			lost = true
		}
	}
	if !lost && ep.Log > 0 {
		err := st.store.Replay(st.ver, ep.Log,
			func(id string, fp uint64) { e.seen[id] = seenEntry{fp: fp} },
			func(id string) { delete(e.seen, id) })
		if err != nil {
			// The entries replayed stand: they precede the position.
			s.log.Warn("rest: state log not replayed to the position; records emitted since the last complete pass are emitted again", "entity", name, "err", err)
		}
	}
	if err := st.store.Remove(st.ver, false); err != nil {
		s.log.Warn("rest: remove old state files", "entity", name, "err", err)
	}
	if lost || ep.Log > 0 {
		// A fresh version, so this run's log does not continue one a
		// position already names.
		st.dirty = true
		if v, ok := s.commitState(e); ok {
			ep.State, ep.Log = v, 0
		}
		s.pos.Entities[name] = ep
		return nil
	}
	l, err := st.store.CreateLog(st.ver)
	if err != nil {
		s.log.Error("rest: state log not created; a restart emits this run's records again", "entity", name, "err", err)
	}
	st.log = l
	return nil
}

// commitState saves seen as a new version when it changed since the last
// one, starts the version's log, and returns the version.
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
		// The records still go out; positions keep naming the previous
		// version and its log, which a restart replays as far as it
		// got.
		s.log.Error("rest: fingerprints not saved; a restart may emit records again", "entity", e.cfg.Name, "err", err)
		return 0, false
	}
	st.closeLog()
	st.ver, st.dirty = ver, false
	l, err := st.store.CreateLog(ver)
	if err != nil {
		s.log.Error("rest: state log not created; a restart emits the records of this pass again", "entity", e.cfg.Name, "err", err)
	}
	st.log = l
	return ver, true
}

// appendLog appends a page's entries to e's state log and returns the
// offset they start at; false when positions must keep the offset they
// had (no state_dir, or the log failed).
func (s *Source) appendLog(e *entity, b *statefile.Batch) (int64, bool) {
	st := &e.state
	if !st.on || st.log == nil {
		return 0, false
	}
	start, err := st.log.Append(b)
	if err != nil {
		s.log.Error("rest: state log not written; a restart emits records again", "entity", e.cfg.Name, "err", err)
		st.closeLog()
		return 0, false
	}
	return start, true
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
