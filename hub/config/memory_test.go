package config

import (
	"testing"
)

func TestMemoryBudget(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want MemoryBudget
	}{
		{"default", "data_dir: d\n", MemoryBudget{TotalMB: 384, SQLiteCacheMB: 48, SQLiteMmapMB: -1, SQLiteSoftHeapMB: 72,
			RecordCacheBytes: 32 << 20, ApplyBatchBytes: 3 << 20, FetchMaxBytes: 8 << 20, GoLimitBytes: 192 << 20}},
		{"doubled", "memory_mb: 768\n", MemoryBudget{TotalMB: 768, SQLiteCacheMB: 96, SQLiteMmapMB: -1, SQLiteSoftHeapMB: 144,
			RecordCacheBytes: 64 << 20, ApplyBatchBytes: 6 << 20, FetchMaxBytes: 16 << 20, GoLimitBytes: 384 << 20}},
		// The explicit SQLite keys win; Go's share shrinks by what they take.
		{"explicit sqlite settings", "memory_mb: 384\nstore:\n  sqlite_cache_mb: 128\n  sqlite_mmap_mb: 64\n", MemoryBudget{TotalMB: 384,
			SQLiteCacheMB: 128, SQLiteMmapMB: 64, SQLiteSoftHeapMB: 152, RecordCacheBytes: 32 << 20, ApplyBatchBytes: 3 << 20,
			FetchMaxBytes: 8 << 20, GoLimitBytes: 96 << 20}},
		// Go keeps a quarter whatever SQLite is given.
		{"sqlite over the budget", "memory_mb: 256\nstore:\n  sqlite_cache_mb: 512\n", MemoryBudget{TotalMB: 256,
			SQLiteCacheMB: 512, SQLiteMmapMB: -1, SQLiteSoftHeapMB: 528, RecordCacheBytes: 256 << 20 / 12, ApplyBatchBytes: 2 << 20,
			FetchMaxBytes: 256 << 20 / 48, GoLimitBytes: 64 << 20}},
		// A fetch must hold the largest message.
		{"large messages", "kafka:\n  max_message_bytes: 20000000\n", MemoryBudget{TotalMB: 384, SQLiteCacheMB: 48, SQLiteMmapMB: -1,
			SQLiteSoftHeapMB: 72, RecordCacheBytes: 32 << 20, ApplyBatchBytes: 3 << 20, FetchMaxBytes: 20000000, GoLimitBytes: 192 << 20}},
		{"no budget", "memory_mb: -1\nstore:\n  sqlite_cache_mb: 100\n", MemoryBudget{SQLiteCacheMB: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("f.yaml", []byte(tt.doc), env(nil))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Memory(); got != tt.want {
				t.Errorf("Memory() =\n%+v, want\n%+v", got, tt.want)
			}
		})
	}
}
