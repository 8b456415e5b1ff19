package config

// DefaultMemoryMB is the hub's memory budget when memory_mb is not set: a
// whole hub (`crmhub run --role all`) applying a million-row load stays
// near it in peak RSS (README, "Memory"). Raise it for stores of many
// millions of customers (a larger SQLite page cache keeps more index pages
// hot) or lower it on a small container; -1 turns the budget off.
const DefaultMemoryMB = 384

// minMemoryMB is the smallest budget accepted: below it the shares below
// reach their floors and the hub's fixed costs (Go runtime, connector
// buffers, HTTP) are most of it.
const minMemoryMB = 128

// MemoryBudget is memory_mb split between the parts of the hub that hold
// memory in proportion to the data, so a user sets one figure. The shares
// of a budget of M MB (M = 384 by default):
//
//   - SQLite page caches: M/6 (64 MB), half the writer's, half shared by
//     the four read connections; store.sqlite_cache_mb overrides it.
//   - SQLite memory map: none. Every mapped page read stays in the
//     process's RSS (and a container's memory limit counts it), while the
//     kernel's file cache serves the same reads without counting in it;
//     store.sqlite_mmap_mb sets one.
//   - SQLite soft heap limit: the page caches plus M/8 for statements and
//     temporary b-trees (PRAGMA soft_heap_limit): past it SQLite recycles
//     cached pages instead of allocating more.
//   - Parsed-record cache (re-clustering reads neighbours from it): M/12
//     (32 MB, ~60,000 records of 19 fields).
//   - Apply transaction: M/128 (3 MB) of fetched messages joined into one
//     store transaction; the store holds several times that while it
//     applies them.
//   - Kafka fetch responses: M/48 (8 MB), at least kafka.max_message_bytes.
//   - Go's heap: the rest (debug.SetMemoryLimit, unless GOMEMLIMIT is set)
//     is a soft limit the garbage collector works to stay under; it costs
//     CPU only when the live heap nears it.
type MemoryBudget struct {
	// TotalMB is the budget; 0 when memory_mb is -1 (no budget: every
	// part at its own default, no Go memory limit).
	TotalMB int
	// SQLiteCacheMB, SQLiteMmapMB (-1: none), SQLiteSoftHeapMB (0: none):
	// store.Options.
	SQLiteCacheMB, SQLiteMmapMB, SQLiteSoftHeapMB int
	// RecordCacheBytes: store.Options (0: the store's default).
	RecordCacheBytes int64
	// ApplyBatchBytes: pipeline.Apply.MaxBatchBytes (0: no byte bound).
	ApplyBatchBytes int
	// FetchMaxBytes: bus.Config.FetchMaxBytes (0: the bus's default).
	FetchMaxBytes int
	// GoLimitBytes: the Go runtime's soft memory limit (0: none).
	GoLimitBytes int64
}

// Memory splits memory_mb (see MemoryBudget); store.sqlite_cache_mb and
// store.sqlite_mmap_mb, when set, win over their shares, and what they
// take more comes out of Go's.
func (c *Config) Memory() MemoryBudget {
	m := c.MemoryMB
	if m == 0 {
		m = DefaultMemoryMB
	}
	if m < 0 {
		return MemoryBudget{SQLiteCacheMB: c.Store.SQLiteCacheMB, SQLiteMmapMB: c.Store.SQLiteMmapMB}
	}
	b := MemoryBudget{TotalMB: m, SQLiteCacheMB: m / 6, SQLiteMmapMB: -1}
	if c.Store.SQLiteCacheMB > 0 {
		b.SQLiteCacheMB = c.Store.SQLiteCacheMB
	}
	if c.Store.SQLiteMmapMB != 0 {
		b.SQLiteMmapMB = c.Store.SQLiteMmapMB
	}
	b.SQLiteSoftHeapMB = b.SQLiteCacheMB + m/8
	b.RecordCacheBytes = int64(m) << 20 / 12
	b.ApplyBatchBytes = m << 20 / 128
	b.FetchMaxBytes = max(min(m<<20/48, 16<<20), c.Kafka.MaxMessageBytes, 1<<20)
	sqlite := b.SQLiteSoftHeapMB + max(b.SQLiteMmapMB, 0)
	// Go keeps at least a quarter of the budget: a budget smaller than
	// what the explicit SQLite settings take is the user's to fix, not a
	// reason to starve the collector into running without pause.
	b.GoLimitBytes = int64(max(m-sqlite, m/4)) << 20
	return b
}
