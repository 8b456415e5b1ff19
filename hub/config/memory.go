package config

// DefaultMemoryMB is the hub's memory budget when memory_mb is not set: a
// whole hub (`crmhub run --role all`) applying a million-row load stays
// near it in peak RSS (docs/benchmarks.md, "Memory"). Raise it for stores of many
// millions of customers (a larger SQLite page cache keeps more index pages
// hot) or lower it on a small container; -1 turns the budget off.
const DefaultMemoryMB = 384

// minMemoryMB is the smallest budget accepted: below it the shares below
// reach their floors and the hub's fixed costs (Go runtime, connector
// buffers, HTTP) are most of it.
const minMemoryMB = 128

// MemoryBudget is memory_mb split between the parts of the hub that hold
// memory in proportion to the data, so a user sets one figure. The shares
// of a budget of M MB (M = 384 by default), measured with `crmhub bench
// pipeline --role all` (docs/benchmarks.md, "Memory"):
//
//   - Go's heap and runtime: M/2 (192 MB), as the Go runtime's soft memory
//     limit (debug.SetMemoryLimit) under `crmhub run`, unless GOMEMLIMIT
//     is set. The collector
//     works harder only when the heap nears it: at 192 MB the applier's
//     live heap (80-100 MB) leaves it room, and it cut the peak by ~25 MB
//     for ~10% more CPU. Explicit SQLite settings larger than their shares
//     come out of it, down to M/4.
//   - SQLite's page caches: M/8 (48 MB), half the writer's, half shared by
//     the four read connections; store.sqlite_cache_mb overrides it.
//   - SQLite's soft heap limit: the page caches plus M/16 (72 MB; PRAGMA
//     soft_heap_limit): past it SQLite recycles cached pages instead of
//     allocating more. SQLite's memory outside the page caches (statements,
//     temporary b-trees, the allocator's slack) measured 60-80 MB more, so
//     the C side takes about M/3 in all.
//   - SQLite's memory map: none. Every mapped page read stays in the
//     process's RSS (and a container's memory limit counts it), while the
//     kernel's file cache serves the same reads without counting in it;
//     store.sqlite_mmap_mb sets one (and takes it from Go's share).
//   - Parsed-record cache (re-clustering reads neighbours from it): M/12
//     (32 MB, ~60,000 records of 19 fields), inside Go's share.
//   - Apply transaction: M/128 (3 MB) of fetched messages joined into one
//     store transaction, and twice that fetched ahead; the store holds
//     several times a transaction's bytes while it applies it. Inside
//     Go's share.
//   - Kafka fetch responses: M/48 (8 MB), at least kafka.max_message_bytes.
//     Inside Go's share.
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
	b := MemoryBudget{TotalMB: m, SQLiteCacheMB: m / 8, SQLiteMmapMB: -1}
	if c.Store.SQLiteCacheMB > 0 {
		b.SQLiteCacheMB = c.Store.SQLiteCacheMB
	}
	if c.Store.SQLiteMmapMB != 0 {
		b.SQLiteMmapMB = c.Store.SQLiteMmapMB
	}
	b.SQLiteSoftHeapMB = b.SQLiteCacheMB + m/16
	b.RecordCacheBytes = int64(m) << 20 / 12
	b.ApplyBatchBytes = m << 20 / 128
	b.FetchMaxBytes = max(min(m<<20/48, 16<<20), c.Kafka.MaxMessageBytes, 1<<20)
	// What explicit SQLite settings take beyond the shares comes out of
	// Go's, which keeps at least a quarter: a budget smaller than the
	// explicit settings is the user's to fix, not a reason to starve the
	// collector into running without pause.
	extra := max(b.SQLiteCacheMB-m/8, 0) + max(b.SQLiteMmapMB, 0)
	b.GoLimitBytes = int64(max(m/2-extra, m/4)) << 20
	return b
}
