package sqlconn

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrWholeSource is returned by ResnapshotPosition for one entity of a
// source that can only be read again as a whole.
var ErrWholeSource = errors.New("this source is re-read as a whole")

// ResnapshotPosition returns the position from which a restarted sql
// source reads entity again from its first row, the other entities going
// on where they stand; found is false when entity had no position (it is
// read from the start already). With entity "" the whole source starts
// over: the position is nil. A change_detection logical source has one
// slot for all its entities, so only the whole source can start over.
func ResnapshotPosition(pos []byte, entity string) (out []byte, found bool, err error) {
	if entity == "" || len(pos) == 0 {
		return nil, len(pos) > 0, nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(pos, &probe); err != nil {
		return nil, false, fmt.Errorf("sql: decode position: %w", err)
	}
	if _, ok := probe["slot"]; ok {
		return nil, false, fmt.Errorf("sql: change_detection logical reads every entity from one replication slot and snapshot: %w (leave out the entity)", ErrWholeSource)
	}
	var p position
	if err := json.Unmarshal(pos, &p); err != nil {
		return nil, false, fmt.Errorf("sql: decode position: %w", err)
	}
	_, found = p.Entities[entity]
	_, hashed := p.Hash[entity]
	if !found && !hashed {
		return pos, false, nil
	}
	delete(p.Entities, entity)
	// A hash-mode entity starts over without its saved row hashes: every
	// row is published again.
	delete(p.Hash, entity)
	return p.encode(), true, nil
}
