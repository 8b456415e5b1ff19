package sqlconn

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
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

// The declaration comes from the structs source and destination decode
// into, nested items included, so a misspelt key anywhere in `entities`
// is refused at load by its path, for either role.
func TestNestedKeysCheckedAtLoad(t *testing.T) {
	ent := func(extra map[string]any) []any {
		e := map[string]any{"name": "parties", "table": "party", "key": "id"}
		for k, v := range extra {
			e[k] = v
		}
		return []any{e}
	}
	for _, tc := range []struct {
		name string
		cfg  sdk.Config
		want string
	}{
		{"source child key", sdk.Config{"entities": ent(map[string]any{"children": []any{map[string]any{"name": "a", "table": "addr", "key": "id", "parnt_key": "pid"}}})},
			"sql: entities[0].children[0].parnt_key: unknown key (did you mean parent_key?)"},
		{"source child required", sdk.Config{"entities": ent(map[string]any{"children": []any{map[string]any{"name": "a", "table": "addr", "key": "id"}}})},
			"sql: entities[0].children[0].parent_key: required"},
		{"destination key", sdk.Config{"entities": ent(map[string]any{"colums": []any{"name"}})},
			"sql: entities[0].colums: unknown key (did you mean columns?)"},
		{"one of", sdk.Config{"entities": ent(map[string]any{"change_detection": "hashed"})},
			`sql: entities[0].change_detection: "hashed": want one of cursor, hash, logical`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sdk.Config{"driver": "sqlite", "dsn": ":memory:"}
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			_, err := Connector.Spec.Validate(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// Both roles' keys are accepted in one declaration.
	cfg := sdk.Config{"driver": "sqlite", "dsn": ":memory:", "entities": ent(map[string]any{
		"cursor": "updated_at", "columns": []any{"name"}, "version_column": "updated_at"})}
	if _, err := Connector.Spec.Validate(cfg); err != nil {
		t.Errorf("source and destination keys together: %v", err)
	}
}
