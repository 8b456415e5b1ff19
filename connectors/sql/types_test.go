package sqlconn

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub/hub/testenv"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// TestTypesIntegration checks that values survive: decimals as strings,
// timestamps in the configured zone, binary as base64, NULL distinct from "".
func TestTypesIntegration(t *testing.T) {
	cases := []struct {
		name string
		b    func(*testing.T) backend
		ddl  string
		ins  string
		want map[string]any
	}{
		{"postgres", func(t *testing.T) backend { return backend{driver: "postgres", dsn: testenv.Postgres(t)} },
			`CREATE TABLE "odd ""name""" (id text PRIMARY KEY, amount numeric(30,10), big bigint, f double precision, ts timestamp, tstz timestamptz, d date, bin bytea, empty text, nothing text, ok boolean, r real)`,
			`INSERT INTO "odd ""name""" VALUES ('k1', 12345678901234567890.0123456789, 9007199254740993, 0.1, '2024-07-01 08:30:00.123456', '2024-07-01 08:30:00Z', '2024-07-01', '\x00ff10', '', NULL, true, 32.38)`,
			map[string]any{"id": "k1", "amount": "12345678901234567890.0123456789", "big": json.Number("9007199254740993"), "f": json.Number("0.1"), "r": json.Number("32.38"),
				"ts": "2024-07-01T08:30:00.123456+02:00", "tstz": "2024-07-01T10:30:00+02:00", "d": "2024-07-01", "bin": "AP8Q", "empty": "", "nothing": nil, "ok": true}},
		{"mariadb", func(t *testing.T) backend { return backend{driver: "mysql", dsn: testenv.MariaDB(t)} },
			"CREATE TABLE `odd \"name\"` (id VARCHAR(10) PRIMARY KEY, amount DECIMAL(30,10), big BIGINT, f DOUBLE, ts DATETIME(6), d DATE, bin BLOB, empty TEXT, nothing TEXT, r FLOAT)",
			"INSERT INTO `odd \"name\"` VALUES ('k1', 12345678901234567890.0123456789, 9007199254740993, 0.1, '2024-07-01 08:30:00.123456', '2024-07-01', X'00ff10', '', NULL, 32.38)",
			map[string]any{"id": "k1", "amount": "12345678901234567890.0123456789", "big": json.Number("9007199254740993"), "f": json.Number("0.1"), "r": json.Number("32.38"),
				"ts": "2024-07-01T08:30:00.123456+02:00", "d": "2024-07-01", "bin": "AP8Q", "empty": "", "nothing": nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b(t)
			b.ddl = tc.ddl
			b = openBackend(t, b)
			b.exec(t, tc.ins)
			s := Connector.NewSource()
			cfg := sdk.Config{"driver": b.driver, "dsn": b.dsn, "timezone": "Europe/Berlin",
				"entities": []any{map[string]any{"name": "odd", "table": `odd "name"`, "key": "id"}}}
			ctx := context.Background()
			if err := s.Configure(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			if err := s.Open(ctx, nil); err != nil {
				t.Fatal(err)
			}
			defer s.Teardown(ctx)
			recs, err := s.Read(ctx, 10)
			if err != nil || len(recs) != 1 {
				t.Fatalf("read %d records, err %v", len(recs), err)
			}
			dec := json.NewDecoder(bytesReader(recs[0].Payload))
			dec.UseNumber()
			var got map[string]any
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			for k, w := range tc.want {
				if fmt.Sprint(got[k]) != fmt.Sprint(w) || (w == nil) != (got[k] == nil) {
					t.Errorf("%s = %#v, want %#v", k, got[k], w)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("payload has %d fields, want %d: %s", len(got), len(tc.want), recs[0].Payload)
			}
		})
	}
}

// TestConnectionDropIntegration kills the connector's PostgreSQL backends
// mid-read: the next reads fail or recover, and a source restarted from the
// last acknowledged position loses and repeats nothing.
func TestConnectionDropIntegration(t *testing.T) {
	b := postgresBackend(t)
	b.dsn += "&application_name=crmhub_drop_test"
	const n = 50
	for i := 1; i <= n; i++ {
		b.insert(t, i, "x", t1) // all equal timestamps: the key breaks ties
	}
	s := newSource(t, b, nil, 7, nil)
	ctx := context.Background()
	var got []string
	var acked sdk.Position
	recs, err := s.Read(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, ids(recs)...)
	acked = recs[len(recs)-1].Position
	b.exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'crmhub_drop_test' AND pid <> pg_backend_pid()`)
	// The broken connection surfaces as an error or is replaced by the pool;
	// either way no record may be lost or repeated.
	failures := 0
	for {
		recs, err := s.Read(ctx, 100)
		if err != nil {
			failures++
			if failures > 3 {
				t.Fatalf("source does not recover: %v", err)
			}
			continue
		}
		if len(recs) == 0 {
			break
		}
		got = append(got, ids(recs)...)
		acked = recs[len(recs)-1].Position
		if len(got) == 21 {
			// Simulate a crash: restart from the last acknowledged position.
			s.Teardown(ctx)
			s = newSource(t, b, acked, 7, nil)
		}
	}
	want := make([]string, n)
	for i := range want {
		want[i] = strconv.Itoa(i + 1)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want 1..%d once each", got, n)
	}
}

func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Connectors []struct {
			Plugin   string         `yaml:"plugin"`
			Settings map[string]any `yaml:"settings"`
		} `yaml:"connectors"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if err := Connector.NewSource().Configure(context.Background(), doc.Connectors[0].Settings); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	err := Connector.NewSource().Configure(context.Background(), sdk.Config{"driver": "oracle", "dsn": "x", "timezone": "Mars/Base",
		"entities": []any{map[string]any{"name": "c", "table": "t", "key": "id"}}})
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"oracle", "Mars/Base"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	err = Connector.NewSource().Configure(context.Background(), sdk.Config{"driver": "sqlite", "dsn": "x",
		"entities": []any{map[string]any{"name": "c", "table": "t", "query": "SELECT 1", "key": "id"}}})
	if err == nil || !contains(err.Error(), "exactly one of table or query") {
		t.Errorf("table+query: %v", err)
	}
	err = Connector.NewSource().Configure(context.Background(), sdk.Config{"driver": "sqlite", "dsn": "x",
		"entities": []any{map[string]any{"name": "d", "tabel": "t", "key": "id"}}})
	if err == nil || !contains(err.Error(), "tabel") {
		t.Errorf("unknown key: %v", err)
	}
}
