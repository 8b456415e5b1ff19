package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/httpapi"
	"github.com/crmhub/crmhub/internal/app/server"
)

const statusMapping = `mapping: erp_customers
version: 1
source: {system: erp, entity: customers}
target: {entity: customer, schema: v1}
fields:
  kind: '"person"'
  family_name: trim(name)
`

// TestStatusAgainstRealServer starts a real hub (embedded broker, SQLite
// store, the sql connector in process) with one source that syncs 40 rows,
// one whose database directory is missing and one disabled, then runs
// `crmhub status` against its API.
func TestStatusAgainstRealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	erp := filepath.Join(dir, "erp.db")
	db, err := sql.Open("sqlite", "file:"+erp)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, updated_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 40; i++ {
		if _, err := db.Exec(`INSERT INTO customers VALUES (?, ?, ?)`, i, fmt.Sprintf("Name%d", i), fmt.Sprintf("2026-03-01 10:%02d:00", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "maps"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "maps", "erp_customers.yaml"), []byte(statusMapping), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope")
	doc := fmt.Sprintf(`data_dir: data
http: {listen: "127.0.0.1:0"}
kafka: {embedded_listen: "127.0.0.1:0", partitions: 1}
mappings: {dir: maps}
plugins: {in_process: true}
auth: {enabled: false}
log: {progress_interval: 100ms}
connectors:
  - name: erp
    plugin: sql
    poll_interval: 100ms
    settings:
      driver: sqlite
      dsn: "file:%s"
      entities: [{name: customers, table: customers, key: id, cursor: updated_at}]
  - name: broken
    plugin: sql
    settings:
      driver: sqlite
      dsn: "file:%s/x.db"
      entities: [{name: customers, table: customers, key: id}]
  - name: old
    plugin: sql
    disabled: true
    settings:
      driver: sqlite
      dsn: "file:%s"
      entities: [{name: customers, table: customers, key: id}]
`, erp, missing, erp)
	path := filepath.Join(dir, "crmhub.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Config: cfg, Builtins: connectors.Builtins(), Logger: quietLog()})
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url := "http://" + srv.HTTPAddr()
	status := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := newRootCmd()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"status", "--url", url}, args...))
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	var list httpapi.ConnectorList
	for deadline := time.Now().Add(time.Minute); ; {
		out, err := status("--json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		// The source's count for the progress estimate runs beside the
		// read (pipeline.countSource) and may land after the catch-up.
		if len(list.Connectors) == 3 && list.Connectors[0].CaughtUp && list.Connectors[0].RecordsMapped == 40 &&
			list.Connectors[0].SourceTotal >= 0 && list.Connectors[1].State == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not caught up: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e := list.Connectors[0]
	if e.Name != "erp" || e.State != "running" || e.RecordsRead != 40 || e.RecordsDeadLettered != 0 || e.LastSuccess == nil ||
		e.SourceTotal != 40 || e.Remaining != 0 || e.LastError != "" {
		t.Errorf("erp: %+v", e)
	}
	if b := list.Connectors[1]; !strings.Contains(b.Error, "directory "+missing+" of the SQLite database does not exist") {
		t.Errorf("broken: %+v", b)
	}
	if o := list.Connectors[2]; o.State != "disabled" {
		t.Errorf("old: %+v", o)
	}
	out, err := status()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "CONNECTOR") {
		t.Fatalf("table:\n%s", out)
	}
	for i, want := range [][]string{
		{"erp", "running, caught up", " 40 ", " 0 ", " ago)"},
		{"broken", "failed", "does not exist"},
		{"old", "disabled"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("line %q lacks %q", lines[i+1], w)
			}
		}
	}
	if strings.Contains(out, "[") {
		t.Errorf("a progress bar in a non-terminal output:\n%s", out)
	}
}

// A source still reading a backlog of known size gets a bar, with bars on.
func TestStatusBar(t *testing.T) {
	now := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	ok := now.Add(-2 * time.Second)
	list := []httpapi.ConnectorStatus{
		{Name: "erp", State: "running", RecordsRead: 1500, RecordsMapped: 1490, RecordsDeadLettered: 10, LagSeconds: 3600,
			SourceTotal: 3000, Remaining: 1500, RatePerSecond: 250, LastSuccess: &ok},
		{Name: "crm", State: "running", CaughtUp: true, SourceTotal: -1, Remaining: -1, LastSuccess: &ok},
	}
	var b bytes.Buffer
	printStatus(&b, list, now, true)
	out := b.String()
	for _, w := range []string{
		"erp        running, reading    1500  1490    10",
		"1h0m0s",
		"2026-12-05 06:59:58Z (2s ago)",
		"erp [===============>              ]  50%  1500/3000  250/s  eta 6s",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Count(out, "[") != 1 {
		t.Errorf("want one bar (crm is caught up):\n%s", out)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// An instance without the connectors role runs no runners: its status says
// so (elsewhere) rather than "starting" forever, and an instance with only
// the connectors role still serves GET /v1/connectors beside the probes.
func TestStatusByRole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct{ role, want string }{{"api", "elsewhere"}, {"connectors", "failed"}} {
		t.Run(tc.role, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "maps"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "maps", "erp_customers.yaml"), []byte(statusMapping), 0o644); err != nil {
				t.Fatal(err)
			}
			doc := fmt.Sprintf(`data_dir: data
roles: [%s]
http: {listen: "127.0.0.1:0"}
kafka: {embedded_listen: "127.0.0.1:0", partitions: 1}
mappings: {dir: maps}
plugins: {in_process: true}
auth: {enabled: false}
connectors:
  - name: erp
    plugin: sql
    settings: {driver: sqlite, dsn: "file:%s/nope/erp.db", entities: [{name: customers, table: customers, key: id}]}
`, tc.role, dir)
			path := filepath.Join(dir, "crmhub.yaml")
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			srv := server.New(server.Options{Config: cfg, Builtins: connectors.Builtins(), Logger: quietLog()})
			if err := srv.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var state string
			for deadline := time.Now().Add(30 * time.Second); state != tc.want; time.Sleep(50 * time.Millisecond) {
				var out bytes.Buffer
				root := newRootCmd()
				root.SetOut(&out)
				root.SetArgs([]string{"status", "--json", "--url", "http://" + srv.HTTPAddr()})
				if err := root.ExecuteContext(ctx); err != nil {
					t.Fatal(err)
				}
				var list httpapi.ConnectorList
				if err := json.Unmarshal(out.Bytes(), &list); err != nil || len(list.Connectors) != 1 {
					t.Fatalf("%v: %s", err, out.String())
				}
				state = list.Connectors[0].State
				if time.Now().After(deadline) {
					t.Fatalf("state %q, want %q", state, tc.want)
				}
			}
		})
	}
}
