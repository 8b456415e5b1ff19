package store

import (
	"context"
	"fmt"
	"testing"
)

// Options.SQLiteSoftHeapMB reaches SQLite (the limit is the process's: the
// last store opened sets it, so the test puts the old one back).
func TestSQLiteSoftHeapLimit(t *testing.T) {
	ctx := context.Background()
	s := MustOpenSQLite(t, Options{})
	var before int64
	if err := s.db.QueryRowContext(ctx, `PRAGMA soft_heap_limit`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA soft_heap_limit=%d`, before)) })
	s2 := MustOpenSQLite(t, Options{SQLiteSoftHeapMB: 48})
	var got int64
	if err := s2.db.QueryRowContext(ctx, `PRAGMA soft_heap_limit`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != 48<<20 {
		t.Errorf("soft_heap_limit = %d, want %d", got, 48<<20)
	}
}
