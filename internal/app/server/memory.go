package server

import (
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"

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
	gcPercent := "GOGC or Go's default"
	if _, set := os.LookupEnv("GOGC"); !set && ownProcess && goLimit == "memory_mb" && connectorsOnly(cfg) {
		debug.SetGCPercent(connectorsGCPercent)
		gcPercent = strconv.Itoa(connectorsGCPercent)
	}
	log.Info("memory budget", "memory_mb", mem.TotalMB, "sqlite_cache_mb", mem.SQLiteCacheMB, "sqlite_mmap_mb", mem.SQLiteMmapMB,
		"sqlite_soft_heap_mb", mem.SQLiteSoftHeapMB, "record_cache_mb", mem.RecordCacheBytes>>20,
		"apply_batch_kb", mem.ApplyBatchBytes>>10, "fetch_max_kb", mem.FetchMaxBytes>>10,
		"go_limit_mb", mem.GoLimitBytes>>20, "go_limit_from", goLimit, "gc_percent", gcPercent)
	return mem
}

// connectorsGCPercent is the collector's GOGC in a process that runs only
// the connectors role. Its live heap is the batches in flight (20-40 MB on
// a 1M-row table), so Go's default lets the collector run every few MB of
// records mapped: a tenth of the process's CPU went to collecting, marking
// and write barriers. At 200 it runs half as often for about 20 MB more RSS
// (`crmhub bench pipeline`, README), and the memory limit above still makes
// it run as often as needed should the heap near memory_mb's share. A
// process that also applies keeps Go's default: its live heap is the
// store's caches, and the limit already bounds its collections.
const connectorsGCPercent = 200

// connectorsOnly reports whether cfg runs the connectors role and no other.
func connectorsOnly(cfg *config.Config) bool {
	if !cfg.Runs(config.RoleConnectors) {
		return false
	}
	for _, r := range []string{config.RoleApply, config.RoleAPI} {
		if cfg.Runs(r) {
			return false
		}
	}
	return true
}
