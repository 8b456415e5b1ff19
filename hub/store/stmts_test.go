package store

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestPadKeys(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		{[]string{"a"}, []string{"a", "a", "a", "a", "a", "a", "a", "a"}},
		{[]string{"a", "b", "c", "d", "e", "f", "g", "h"}, []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
		{[]string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}, append([]string{"a", "b", "c", "d", "e", "f", "g", "h"}, "i", "i", "i", "i", "i", "i", "i", "i")},
	} {
		if got := padKeys(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("padKeys(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := padWith([]string{"k"}, ""); len(got) != 8 || got[0] != "k" || got[7] != "" {
		t.Errorf(`padWith([k], "") = %q`, got)
	}
}

func TestRowPieces(t *testing.T) {
	for _, tc := range []struct {
		n, limit int
		want     []int
	}{
		{0, 100, nil},
		{1, 100, []int{1}},
		{375, 615, []int{256, 64, 32, 16, 4, 2, 1}},
		{1300, 615, []int{512, 512, 256, 16, 4}},
		{7, 3, []int{2, 2, 2, 1}},
	} {
		got := rowPieces(tc.n, tc.limit)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("rowPieces(%d, %d) = %v, want %v", tc.n, tc.limit, got, tc.want)
		}
		sum := 0
		for _, p := range got {
			sum += p
		}
		if sum != tc.n {
			t.Errorf("rowPieces(%d, %d) covers %d rows", tc.n, tc.limit, sum)
		}
	}
}

// A statement first seen in a writer's transaction is prepared when the
// transaction ends and served prepared to the next one; a reader's
// transaction is never served (its statement would belong to another
// pool), and every row still reaches the table.
func TestStmtCacheServesWriterTransactions(t *testing.T) {
	s := MustOpenSQLite(t, Options{})
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	rows := func(from, n int) [][]any {
		var out [][]any
		for i := from; i < from+n; i++ {
			out = append(out, []any{fmt.Sprintf("k%04d", i), i})
		}
		return out
	}
	insert := func(from, n int) {
		t.Helper()
		if err := s.inTx(ctx, func(tx *sql.Tx) error {
			return s.insertRows(ctx, tx, `INSERT INTO t (k, v) `, "text,integer", ``, rows(from, n))
		}); err != nil {
			t.Fatal(err)
		}
	}
	cached := func() int {
		s.stmts.mu.Lock()
		defer s.stmts.mu.Unlock()
		return len(s.stmts.m)
	}
	insert(0, 3) // pieces of 2 and 1
	if got := cached(); got != 2 {
		t.Fatalf("after the first transaction %d statements are prepared, want 2", got)
	}
	insert(3, 3) // the same shapes
	if got := cached(); got != 2 {
		t.Fatalf("the same shapes again: %d statements prepared, want still 2", got)
	}
	insert(6, 700) // 512 + 128 + 32 + 16 + 8 + 4
	var n, sum int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), SUM(v) FROM t`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 706 || sum != 705*706/2 {
		t.Fatalf("table holds %d rows (sum %d), want 706 (sum %d)", n, sum, 705*706/2)
	}

	// A reader's transaction runs its statement unprepared, and
	// correctly.
	before := cached()
	rtx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rtx.Rollback()
	var got []string
	if err := s.eachChunk(ctx, rtx, `SELECT k FROM t WHERE k IN (%s) ORDER BY k`, []string{"k0001", "k0700"}, func(r *sql.Rows) error {
		var k string
		got = append(got, k)
		return r.Scan(&got[len(got)-1])
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"k0001", "k0700"}) {
		t.Fatalf("reader read %q", got)
	}
	if s.stmts.stmt(ctx, rtx, `SELECT k FROM t`) != nil || cached() != before {
		t.Fatal("the cache served or queued a reader's statement")
	}
}

// One transaction ending (and preparing what it saw) while another holds
// the writer's only connection and asks the cache for statements must not
// deadlock.
func TestStmtCacheEndWhileAnotherTransactionRuns(t *testing.T) {
	s := MustOpenSQLite(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				keys := make([]string, 1+(i*7+w)%40)
				for j := range keys {
					keys[j] = fmt.Sprintf("w%d-%d-%d", w, i, j)
				}
				if err := s.inTx(ctx, func(tx *sql.Tx) error {
					var rows [][]any
					for _, k := range keys {
						rows = append(rows, []any{k})
					}
					if err := s.insertRows(ctx, tx, `INSERT INTO t (k) `, "text", ``, rows); err != nil {
						return err
					}
					return s.eachChunk(ctx, tx, `SELECT k FROM t WHERE k IN (%s)`, keys, func(*sql.Rows) error { return nil })
				}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("transactions did not finish in 30 s")
	}
}
