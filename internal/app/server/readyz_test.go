package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/testenv"
	"github.com/crmhub/crmhub/internal/app/server"
)

// readiness is GET /readyz's body.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func getReady(t *testing.T, addr string) (int, readiness) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return resp.StatusCode, r
}

// storeLock holds the store's records for writes from another session,
// as a migration, a backup or a stuck client does; release lets go.
type storeLock func(t *testing.T) (release func())

// TestReadyzWhileStoreRefusesWrites runs a whole hub (server.Start from a
// config file: store, embedded broker, applier, API) and makes its store
// refuse writes while it still answers pings (another session holds the
// write lock past the store's timeout). /readyz must answer 503 naming the
// applier and why, and 200 again once the store takes writes, with every
// record applied and none dead-lettered. Before, only the pipeline-level
// test checked Apply.Paused; nothing checked that the server's /readyz
// reports it.
func TestReadyzWhileStoreRefusesWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		// store returns the store section of the config and the lock.
		store func(t *testing.T, dir string) (string, storeLock)
	}{
		{"sqlite", func(t *testing.T, dir string) (string, storeLock) {
			path := filepath.Join(dir, "hub.db")
			// The DSN's busy_timeout wins over the store's 10s, so a held
			// lock fails a write (SQLITE_BUSY) quickly.
			cfg := fmt.Sprintf("{driver: sqlite, dsn: %q}", "file:"+path+"?_pragma=busy_timeout(200)")
			return cfg, func(t *testing.T) func() {
				// Waiting for the lock: the hub writes now and then on its
				// own (the customer value's refresh check every second).
				db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
				if err != nil {
					t.Fatal(err)
				}
				conn, err := db.Conn(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				// The write lock at BEGIN; readers (the ping) still read.
				if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
					t.Fatal(err)
				}
				return func() {
					if _, err := conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
						t.Fatal(err)
					}
					conn.Close()
					db.Close()
				}
			}
		}},
		{"postgres", func(t *testing.T, dir string) (string, storeLock) {
			dsn := testenv.Postgres(t)
			cfg := fmt.Sprintf("{driver: postgres, dsn: %q}", dsn+"&lock_timeout=300")
			return cfg, func(t *testing.T) func() {
				db, err := sql.Open("pgx", dsn)
				if err != nil {
					t.Fatal(err)
				}
				conn, err := db.Conn(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := conn.ExecContext(context.Background(), `BEGIN; LOCK TABLE records IN ACCESS EXCLUSIVE MODE`); err != nil {
					t.Fatal(err)
				}
				return func() {
					if _, err := conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
						t.Fatal(err)
					}
					conn.Close()
					db.Close()
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			storeCfg, lock := tc.store(t, dir)
			srv := startHub(t, dir, storeCfg)
			addr := srv.HTTPAddr()
			waitReady(t, "the hub ready", func() bool { code, _ := getReady(t, addr); return code == http.StatusOK })

			release := lock(t)
			locked := true
			defer func() {
				if locked {
					release()
				}
			}()
			const n = 5
			publishCustomers(t, ctx, srv.Bus(), n)

			var r readiness
			waitReady(t, "/readyz 503 naming the applier", func() bool {
				var code int
				code, r = getReady(t, addr)
				return code == http.StatusServiceUnavailable && r.Checks["applier"] != "" && r.Checks["applier"] != "ok"
			})
			t.Logf("/readyz while the store is locked: %+v", r)
			if r.Status != "unavailable" || !strings.Contains(r.Checks["applier"], "paused") {
				t.Errorf("/readyz while locked: %+v, want status unavailable and the applier's reason", r)
			}
			if r.Checks["store"] != "ok" {
				t.Errorf("store check %q: the store still answers pings, only writes are refused", r.Checks["store"])
			}
			if got := metric(t, addr, "crmhub_hub_applier_paused"); got != 1 {
				t.Errorf("crmhub_hub_applier_paused = %v while locked", got)
			}

			release()
			locked = false
			waitReady(t, "/readyz 200 again", func() bool { code, _ := getReady(t, addr); return code == http.StatusOK })
			waitReady(t, "every record applied", func() bool {
				c, err := srv.Store().Counts(ctx)
				return err == nil && c.SourceRecords == n
			})
			if got := metric(t, addr, "crmhub_hub_applier_paused"); got != 0 {
				t.Errorf("crmhub_hub_applier_paused = %v after the lock went", got)
			}
			if got := metric(t, addr, "crmhub_pipeline_dead_letters_total"); got != 0 {
				t.Errorf("%v dead letters while the store was locked, want none", got)
			}
		})
	}
}

// startHub starts a hub with an embedded broker, the given store, no
// connectors and authentication off, closed when the test ends.
func startHub(t *testing.T, dir, storeCfg string) *server.Server {
	t.Helper()
	path := filepath.Join(dir, "crmhub.yaml")
	// The quickstart's mappings: a hub starts with at least one.
	maps, err := filepath.Abs("../../../deploy/quickstart/mappings")
	if err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`data_dir: %s
http: {listen: "127.0.0.1:0"}
kafka: {embedded_listen: "127.0.0.1:0", partitions: 1}
store: %s
mappings: {dir: %s}
auth: {enabled: false}
hub: {batch_size: 10}
connectors: []
`, filepath.Join(dir, "data"), storeCfg, maps)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Plugins.InProcess = true
	srv := server.New(server.Options{Config: cfg, Builtins: connectors.Builtins(), Logger: quiet()})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// publishCustomers publishes n canonical customers, as a connector would.
func publishCustomers(t *testing.T, ctx context.Context, b *bus.Bus, n int) {
	t.Helper()
	topics := b.Topics()
	var msgs []bus.Message
	for i := range n {
		e := hub.Envelope{System: "erp", SourceEntity: "customers", SourceID: fmt.Sprintf("R%d", i), Entity: hub.EntityCustomer,
			Op: hub.OpUpsert, SourceUpdatedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), SchemaVersion: hub.SchemaVersion,
			Connector: "erp", Data: json.RawMessage(fmt.Sprintf(`{"kind":"person","family_name":"R%d","emails":["r%d@example.de"]}`, i, i))}
		e.ComputeEventID()
		v, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, bus.Message{Topic: topics.Canonical(hub.EntityCustomer), Key: []byte(e.SourceID), Value: v})
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// metric sums a metric family's samples on the hub's /metrics.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf strings.Builder
	if _, err := io.Copy(&buf, resp.Body); err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(buf.String(), "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		var v float64
		if _, err := fmt.Sscan(f[len(f)-1], &v); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

func waitReady(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
