package sdk

import (
	"context"
	"time"
)

// Reconciler is implemented by a Source that can say what it holds, so the
// hub can catch silent drift: records the hub missed (a read skipped by a
// bug, a hard delete it never saw) show up as a difference between the
// source's count and the hub's.
//
// Both methods may be called at any time after Open, concurrently with Read
// and Ack, from another goroutine; they must not move the read position.
// A source that cannot answer for an entity returns ErrNotSupported.
type Reconciler interface {
	// Count returns how many live records of entity the source holds now:
	// soft-deleted records are excluded, so the number compares with the
	// hub's live records.
	Count(ctx context.Context, entity string) (int64, error)
	// Keys returns up to limit record ids of entity in the source's own
	// key order, starting after the id after ("" starts at the first).
	// Fewer than limit means the end. Ids are spelled as Read spells
	// Record.ID.
	Keys(ctx context.Context, entity, after string, limit int) ([]string, error)
}

// CountOf asks src for an entity's count, ErrNotSupported when it is no
// Reconciler.
func CountOf(ctx context.Context, src Source, entity string) (int64, error) {
	r, ok := src.(Reconciler)
	if !ok {
		return 0, ErrNotSupported
	}
	return r.Count(ctx, entity)
}

// KeysOf asks src for a page of keys, ErrNotSupported when it is no
// Reconciler.
func KeysOf(ctx context.Context, src Source, entity, after string, limit int) ([]string, error) {
	r, ok := src.(Reconciler)
	if !ok {
		return nil, ErrNotSupported
	}
	return r.Keys(ctx, entity, after, limit)
}

// VersionReconciler is implemented by a Source that reads by a version
// (updated-at) cursor, so the hub can find rows whose version moved while
// their place in the read order stayed behind the source's position: a
// writer that set an old time, a write-back touched with a business time.
// Polling never reads such a row again. Both methods may be called beside
// Read, like Reconciler's.
type VersionReconciler interface {
	// VersionsBehind scans up to limit rows of entity in the source's key
	// order after the id after ("" from the first) and returns those
	// whose cursor lies behind the acknowledged position, with their
	// versions as Read sets Record.UpdatedAt. last is the last id scanned,
	// "" when the scan reached the end.
	VersionsBehind(ctx context.Context, entity, after string, limit int) (ids []string, versions []time.Time, last string, err error)
	// Reread asks the source to hand out these ids of entity again at its
	// next Read, without moving its position.
	Reread(ctx context.Context, entity string, ids []string) error
}
