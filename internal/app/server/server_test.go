package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/internal/app/demohub"
	"github.com/crmhub/crmhub/internal/app/server"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestGoldenChangeStream syncs a small generated demo and reads the
// compacted golden topic back: every active golden customer's latest
// message is its full state, every merged id's latest message is a
// tombstone pointing at a live survivor. Every live state carries the
// customer's value block as the store has it.
func TestGoldenChangeStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub on demo data")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := demohub.Start(ctx, demohub.RunOptions{Dir: t.TempDir(), Seed: 3, People: 40, InProcess: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	counts, err := r.Server.Store().Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The stream trails the store by its poll interval: wait until the
	// topic holds the store's current state of every golden customer.
	var live map[string]hub.GoldenState
	var merged map[string]string
	var diffs []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		live, merged = readGolden(t, ctx, r.Server.Bus().Brokers()[0], r.Server.Bus().Topics().GoldenChanges())
		diffs = diffs[:0]
		if int64(len(live)) != counts.GoldenCustomers {
			diffs = append(diffs, fmt.Sprintf("topic holds %d live customers, store %d", len(live), counts.GoldenCustomers))
		}
		for id, st := range live {
			v, err := r.Server.Store().FindCustomerByID(ctx, id)
			switch {
			case err != nil:
				diffs = append(diffs, fmt.Sprintf("topic has %s, store: %v", id, err))
			case v.ID != id || len(st.Sources) != len(v.Sources) || st.Customer.Kind != v.Customer.Kind:
				diffs = append(diffs, fmt.Sprintf("%s: topic state differs from the store: %d vs %d sources", id, len(st.Sources), len(v.Sources)))
			}
			// The value block follows the store's class (stage, segment,
			// ABC): a move publishes the state again. A customer whose
			// class never moved from none (no orders, class C) may have
			// no block.
			f, err := r.Server.Store().CustomerValue(ctx, id)
			if err != nil {
				diffs = append(diffs, fmt.Sprintf("%s: figures: %v", id, err))
				continue
			}
			var topic, store [3]string
			if st.Value != nil {
				topic = valueClass(st.Value.Stage, st.Value.Segment, st.Value.ABC)
			}
			if f != nil {
				store = valueClass(string(f.Loyalty.Stage), f.Segment.Name, f.Segment.ABC)
			}
			if topic != store {
				diffs = append(diffs, fmt.Sprintf("%s: topic value class %v, store %v", id, topic, store))
			}
		}
		if len(diffs) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, d := range diffs {
		t.Error(d)
	}
	for loser, survivor := range merged {
		if _, ok := live[survivor]; !ok {
			t.Errorf("merged %s points at %q, which is not a live golden customer", loser, survivor)
		}
	}
}

// readGolden reads the whole topic and keeps the latest message per key.
func readGolden(t *testing.T, ctx context.Context, broker, topic string) (map[string]hub.GoldenState, map[string]string) {
	t.Helper()
	conn, err := kafka.DialContext(ctx, "tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]hub.GoldenState{}
	merged := map[string]string{}
	for _, p := range parts {
		lc, err := kafka.DialLeader(ctx, "tcp", broker, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := lc.ReadLastOffset()
		lc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if last == 0 {
			continue
		}
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		for {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			key := string(m.Key)
			if m.Value == nil {
				delete(live, key)
				for _, h := range m.Headers {
					if h.Key == "merged_into" {
						merged[key] = string(h.Value)
					}
				}
			} else {
				var st hub.GoldenState
				if err := jsonUnmarshal(m.Value, &st); err != nil {
					t.Fatalf("golden state of %s: %v", key, err)
				}
				live[key] = st
				delete(merged, key)
			}
			if m.Offset+1 >= last {
				break
			}
		}
		rd.Close()
	}
	return live, merged
}

// TestConnectorSettingErrorsNameFileLineKey checks that a parameter the
// connector does not declare is refused at start with the file, the line
// and the key, together with every other problem.
func TestConnectorSettingErrorsNameFileLineKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "crmhub.yaml")
	doc := `data_dir: data
http: {listen: "127.0.0.1:0"}
kafka: {embedded_listen: "127.0.0.1:0"}
mappings: {dir: maps}
connectors:
  - name: erp
    plugin: sql
    settings:
      driver: sqlite
      dsn: "file:x.db"
      entitys: []
  - name: crm
    plugin: nosuch
`
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "maps"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Plugins.InProcess = true
	srv := server.New(server.Options{Config: cfg, Builtins: connectors.Builtins(), Logger: quiet()})
	err = srv.Start(context.Background())
	if err == nil {
		srv.Close()
		t.Fatal("want a configuration error")
	}
	if !errors.Is(err, config.ErrInvalid) {
		t.Errorf("error does not wrap config.ErrInvalid: %v", err)
	}
	for _, want := range []string{
		path + ":11: connectors[0].settings.entitys: unknown key (did you mean entities?)", // unknown key, with its line
		"connectors[0].settings.entities: required",                                        // missing required parameter
		path + ":12: connectors[1].plugin",                                                 // unknown connector
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// valueClass is a customer's stage, segment and ABC class, none and C
// (nothing to tell) as empty.
func valueClass(stage, segment, abc string) [3]string {
	if stage == "none" {
		stage = ""
	}
	if abc == "C" {
		abc = ""
	}
	return [3]string{stage, segment, abc}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
