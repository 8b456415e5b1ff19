package placeholder

import "testing"

func TestDollar(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE id = ?", "SELECT a FROM t WHERE id = $1"},
		{"INSERT INTO t (a, b, c) VALUES (?, ?,?)", "INSERT INTO t (a, b, c) VALUES ($1, $2,$3)"},
		{"SELECT ? " + "+ ?, ?, ?, ?, ?, ?, ?, ?, ?", "SELECT $1 + $2, $3, $4, $5, $6, $7, $8, $9, $10"},
	}
	for _, tt := range tests {
		if got := Dollar(tt.in); got != tt.want {
			t.Errorf("Dollar(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
