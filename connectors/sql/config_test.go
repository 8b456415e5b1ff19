package sqlconn

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// A SQLite DSN in a missing directory names the directory; SQLite itself
// says only "unable to open database file (14)".
func TestSQLiteMissingDirNamed(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for _, tc := range []struct {
		dsn  string
		want string
	}{
		{"file:" + filepath.Join(missing, "erp.db") + "?_pragma=busy_timeout(5000)", "directory " + missing + " of the SQLite database does not exist"},
		{filepath.Join(t.TempDir(), "erp.db"), ""},
		{":memory:", ""},
	} {
		err := (&Source{cfg: Config{Driver: "sqlite", DSN: tc.dsn}, d: dialects["sqlite"]}).Open(context.Background(), nil)
		if tc.want == "" && err != nil && strings.Contains(err.Error(), "directory") || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("dsn %s: error %v, want %q", tc.dsn, err, tc.want)
		}
	}
}
