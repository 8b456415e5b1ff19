package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	sqlconn "github.com/crmhub/crmhub/connectors/sql"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// slowSQL is the real sql source with a pause before each read, so a
// snapshot of a few hundred rows lasts several progress intervals.
type slowSQL struct{ *sqlconn.Source }

func (s slowSQL) Read(ctx context.Context, max int) ([]sdk.Record, error) {
	time.Sleep(15 * time.Millisecond)
	return s.Source.Read(ctx, max)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// lines returns the JSON log lines with message msg.
func (b *syncBuffer) lines(t *testing.T, msg string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestProgressLogged runs the real sql source over 300 rows into the real
// bus and reads the slog output: snapshot progress lines at the interval
// (records, rate, position, total and remaining, since the source can
// count), then one "caught up" line with the totals; the status snapshot
// behind GET /v1/connectors agrees.
func TestProgressLogged(t *testing.T) {
	r := newRig(t)
	dsn, exec := erpSQLite(t, r)
	exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, updated_at TEXT NOT NULL)`)
	for i := 1; i <= 300; i++ {
		exec(`INSERT INTO customers VALUES (?, ?, ?)`, i, fmt.Sprintf("Name%d", i),
			time.Date(2026, 3, 1, 10, 0, i, 0, time.UTC).Format("2006-01-02 15:04:05"))
	}
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	metrics := pipeline.NewMetrics(prometheus.NewRegistry())
	metrics.Progress.Interval = 100 * time.Millisecond
	settings := sdk.Config{"driver": "sqlite", "dsn": dsn, "batch_size": 10, "entities": []any{
		map[string]any{"name": "customers", "table": "customers", "key": "id", "cursor": "updated_at"}}}
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- (&pipeline.Source{Name: "erp", System: "erp", Source: slowSQL{sqlconn.Connector.NewSource().(*sqlconn.Source)},
				Config: settings, Mappings: r.maps, Publisher: r.bus, Positions: r.store, Topics: r.topics, BatchSize: 10,
				PollInterval: 50 * time.Millisecond, Metrics: metrics, Logger: log}).Run(ctx)
		}()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("source: %v", err)
			}
		}
	}
	stop := start()

	eventually(t, "a caught up line", func() bool { return len(logs.lines(t, "caught up")) > 0 })
	time.Sleep(300 * time.Millisecond) // no second caught-up line while idle

	progress := logs.lines(t, "snapshot progress")
	if len(progress) < 2 {
		t.Fatalf("%d snapshot progress lines, want several over a read of 30 batches of 15 ms+", len(progress))
	}
	sawEstimate := false
	for _, l := range progress {
		if l["connector"] != "erp" || l["records"] == nil || l["rate_per_s"] == nil || l["position"] == nil {
			t.Errorf("progress line lacks connector, records, rate or position: %v", l)
		}
		if l["total"] != nil {
			sawEstimate = true
			if l["total"].(float64) != 300 || l["remaining"].(float64) > 300 {
				t.Errorf("estimate: %v", l)
			}
		}
	}
	if !sawEstimate {
		t.Errorf("no progress line has the source's total and remaining: %v", progress)
	}
	caught := logs.lines(t, "caught up")
	if len(caught) != 1 {
		t.Fatalf("%d caught up lines, want 1", len(caught))
	}
	c := caught[0]
	if c["records"].(float64) != 300 || c["mapped"].(float64) != 300 || c["dead_lettered"].(float64) != 0 ||
		c["position"] != "2026-03-01T10:05:00Z" {
		t.Errorf("caught up line: %v", c)
	}
	t.Logf("first progress line %v\ncaught up %v", progress[0], c)
	st := metrics.Progress.Snapshot(metrics)
	if len(st) != 1 || !st[0].CaughtUp || st[0].Read != 300 || st[0].Mapped != 300 || st[0].Total != 300 ||
		st[0].Remaining != 0 || st[0].LastSuccess.IsZero() || st[0].LastError != "" {
		t.Errorf("status %+v", st)
	}

	// A second run resumes from the saved position: it reads only what
	// changed, says so in its own caught-up line, and gives no estimate
	// (what the first run read is not its to know).
	stop()
	for i := 301; i <= 320; i++ {
		exec(`INSERT INTO customers VALUES (?, ?, ?)`, i, fmt.Sprintf("Name%d", i),
			time.Date(2026, 3, 2, 10, 0, i-300, 0, time.UTC).Format("2006-01-02 15:04:05"))
	}
	stop = start()
	defer stop()
	eventually(t, "a second caught up line", func() bool { return len(logs.lines(t, "caught up")) == 2 })
	if c := logs.lines(t, "caught up")[1]; c["records"].(float64) != 20 || c["position"] != "2026-03-02T10:00:20Z" {
		t.Errorf("second caught up line: %v", c)
	}
	st = metrics.Progress.Snapshot(metrics)
	if len(st) != 1 || st[0].Read != 320 || st[0].Mapped != 320 || st[0].Total != -1 || !st[0].CaughtUp {
		t.Errorf("status after the resumed run %+v", st)
	}
}
