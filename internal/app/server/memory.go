package server

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/crmhub/crmhub/hub/config"
)

// applyMemoryBudget splits memory_mb (config.MemoryBudget) and, when the
// hub owns its process, sets the Go runtime's soft memory limit from it
// unless GOMEMLIMIT does: the collector then works harder only when the
// heap nears Go's share of the budget, instead of letting garbage grow to
// twice the live heap whatever the SQLite side already holds. The limit
// is the process's, hence only for a hub that owns it.
func applyMemoryBudget(cfg *config.Config, ownProcess bool, log *slog.Logger) config.MemoryBudget {
	mem := cfg.Memory()
	if mem.TotalMB == 0 {
		return mem
	}
	goLimit := "not set: the hub shares its process"
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		goLimit = "GOMEMLIMIT"
	} else if ownProcess && mem.GoLimitBytes > 0 {
		debug.SetMemoryLimit(mem.GoLimitBytes)
		goLimit = "memory_mb"
	}
	log.Info("memory budget", "memory_mb", mem.TotalMB, "sqlite_cache_mb", mem.SQLiteCacheMB, "sqlite_mmap_mb", mem.SQLiteMmapMB,
		"sqlite_soft_heap_mb", mem.SQLiteSoftHeapMB, "record_cache_mb", mem.RecordCacheBytes>>20,
		"apply_batch_kb", mem.ApplyBatchBytes>>10, "fetch_max_kb", mem.FetchMaxBytes>>10,
		"go_limit_mb", mem.GoLimitBytes>>20, "go_limit_from", goLimit)
	return mem
}
