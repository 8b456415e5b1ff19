package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

func TestQ(t *testing.T) {
	tests := []struct {
		name     string
		postgres bool
		in, want string
	}{
		{"sqlite keeps ?", false, "SELECT a FROM t WHERE id = ? AND b = ?", "SELECT a FROM t WHERE id = ? AND b = ?"},
		{"postgres numbers", true, "SELECT a FROM t WHERE id = ? AND b = ?", "SELECT a FROM t WHERE id = $1 AND b = $2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (DB{Postgres: tt.postgres}).Q(tt.in); got != tt.want {
				t.Errorf("Q(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParams(t *testing.T) {
	for n, want := range map[int]string{0: "", 1: "?", 3: "?,?,?"} {
		if got := Params(n); got != want {
			t.Errorf("Params(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestNanos(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 2, 3, 4, time.FixedZone("x", 3600))
	if got := FromNanos(Nanos(at)); !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("round trip of %v: %v", at, got)
	}
	if Nanos(time.Time{}) != 0 || !FromNanos(0).IsZero() {
		t.Error("the zero time is not 0")
	}
}

// tempDB is a SQLite database in a file of the test's, closed at its end.
func tempDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestInTx: fn's error rolls the transaction back and is returned as it
// is; nil commits.
func TestInTx(t *testing.T) {
	ctx := context.Background()
	db := tempDB(t)
	d := DB{Write: db, Read: db}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (a INTEGER)`); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := d.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want %v", err, boom)
	}
	if err := d.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, d.Q(`INSERT INTO t VALUES (?)`), 2)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(a), 0) FROM t`).Scan(&sum); err != nil || sum != 2 {
		t.Fatalf("rows after a rollback and a commit: sum %d, %v; want 2", sum, err)
	}
}

// TestEach: every row is scanned, and scan's error ends the loop.
func TestEach(t *testing.T) {
	ctx := context.Background()
	db := tempDB(t)
	query := `SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3`
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	if err := Each(rows, func(r *sql.Rows) error {
		var n int
		err := r.Scan(&n)
		got = append(got, n)
		return err
	}); err != nil || len(got) != 3 {
		t.Fatalf("Each scanned %v, %v; want 1, 2, 3", got, err)
	}
	rows, err = db.QueryContext(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	stop, n := errors.New("stop"), 0
	if err := Each(rows, func(*sql.Rows) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Each after scan failed: %d rows, %v; want 1, %v", n, err, stop)
	}
}
