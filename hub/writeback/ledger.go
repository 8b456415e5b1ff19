package writeback

import (
	"context"
	"time"

	"github.com/crmhub/crmhub/hub"
)

// Ledger remembers, per target record, what crmhub last wrote there (or
// found there): the hash of the allow-listed fields, and the touch fields
// of the last write as a JSON object. It lives in the hub's store
// (hub/store/ledger), so every hub instance on one database knows what the
// others wrote.
type Ledger interface {
	// Written returns, for the ids the ledger knows, their hash and, for
	// those whose last write set touch fields, the touch JSON. One call
	// per batch of ids.
	Written(ctx context.Context, target string, ids []string) (hashes, touches map[string]string, err error)
	// Record stores each id's hash and touch JSON (touches may lack an id:
	// then it has none) and the echo of a write (echoes may lack an id:
	// then it keeps the one it had), in one transaction.
	Record(ctx context.Context, target string, hashes, touches map[string]string, echoes map[string]hub.WriteEcho) error
}

// ConflictLog keeps the golden customers whose write to a target
// conflicted, with the version the write was based on and the tries, so
// that a restarted writer retries them too and still knows which system
// edits to respect; and the ones handed to a steward. A Ledger that is one
// (hub/store/ledger) is used as such.
type ConflictLog interface {
	// Conflicts returns target's conflicts.
	Conflicts(ctx context.Context, target string) ([]hub.WritebackConflict, error)
	// SetConflicts stores set (replacing by golden id) and removes clear
	// (an id in both is set), in one transaction.
	SetConflicts(ctx context.Context, target string, set []hub.WritebackConflict, clear []string) error
}

// TotalsLog keeps the write-back counts per target in the store, so that
// totals survive restarts and are the same whichever hub instance is asked
// (the counters crmhub_writeback_*_total are per process and start at zero,
// as Prometheus counters do). A Ledger that is one (hub/store/ledger) is used as
// such. Names are "records/<result>" and "skipped/<reason>".
type TotalsLog interface {
	// AddTotals adds each count to target's total of that name.
	AddTotals(ctx context.Context, target string, add map[string]int64) error
	// Totals returns every target's totals: target -> name -> count.
	Totals(ctx context.Context) (map[string]map[string]int64, error)
}

// EchoLedger tells when crmhub last wrote each target record, by the
// target's clock (the echo's WrittenAt), for records written with a
// version; ids never written so are absent. A Ledger that is one
// (hub/store/ledger) lets the writer see fields a system changed after crmhub
// wrote them.
type EchoLedger interface {
	WrittenAt(ctx context.Context, target string, ids []string) (map[string]time.Time, error)
}
