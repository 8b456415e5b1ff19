package store

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// BenchmarkBlocksQuery reads 256 blocks of match keys per op through the
// writer's statement cache, as relinking does, in the statement's shape
// (cast placeholders) and in the shape it had before (bare ones), which
// SQLite planned again at every use (stmtCache):
//
//	go test -run '^$' -bench BlocksQuery ./hub/store
func BenchmarkBlocksQuery(b *testing.B) {
	s := MustOpenSQLite(b, Options{})
	ctx := context.Background()
	evs := benchEvents(8000)
	mustApplyBatches(b, s, 500, evs)
	keys, err := s.strings(ctx, s.rdb, `SELECT DISTINCT mkey FROM match_keys ORDER BY mkey`)
	if err != nil {
		b.Fatal(err)
	}
	if len(keys) < 2*blockChunk {
		b.Fatalf("%d match keys, want at least %d", len(keys), 2*blockChunk)
	}
	limitOf := func(string) int { return 101 }
	for _, c := range []struct {
		name  string
		query func(keys []string) (string, []any)
	}{
		{"cast", func(keys []string) (string, []any) { return sqliteBlocksQuery(keys, limitOf) }},
		{"bare", func(keys []string) (string, []any) {
			q, args := sqliteBlocksQuery(keys, limitOf)
			q = strings.ReplaceAll(q, "CAST(? AS TEXT)", "?")
			return strings.ReplaceAll(q, "CAST(? AS INTEGER)", "?"), args
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			rows := 0
			for i := 0; i < b.N; i++ {
				at := i * blockChunk % (len(keys) - blockChunk)
				q, args := c.query(keys[at : at+blockChunk])
				if err := s.inTx(ctx, func(tx *sql.Tx) error {
					return s.scanAll(ctx, tx, q, args, func(*sql.Rows) error { rows++; return nil })
				}); err != nil {
					b.Fatal(err)
				}
			}
			if rows == 0 {
				b.Fatal("no block members read")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*blockChunk), "ns/block")
			b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
		})
	}
}
