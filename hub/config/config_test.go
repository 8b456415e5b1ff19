package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseGood(t *testing.T) {
	b, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("/etc/crmhub/good.yaml", b, env(map[string]string{"PARTS": "6", "DEMO": "/srv/demo"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Clean("/etc/crmhub/data") {
		t.Errorf("data_dir %q: want default resolved against the file", c.DataDir)
	}
	if c.Kafka.Partitions != 6 {
		t.Errorf("partitions %d: want 6 from ${PARTS}", c.Kafka.Partitions)
	}
	if p := c.Identity.Fuzzy.People; !p.AutoEstimate() || p.Estimate != EstimateAuto || p.EstimateMinRecords != 250 || p.EstimateIdle.D() != 5*time.Second || p.EstimateSample != 50000 ||
		p.EstimateInterval.D() != time.Minute {
		t.Errorf("person model estimation %+v: want auto by default, from 250 records after 5s idle, at least 1m apart, sample 50,000", p)
	}
	if c.Store.DSN != "/etc/crmhub/data/crmhub.db" {
		t.Errorf("dsn %q", c.Store.DSN)
	}
	k := c.Connectors[0]
	if k.System != "erp" || k.PollInterval.D() != 2*time.Second || k.Settings["dsn"] != "file:/srv/demo/erp.db" || k.Settings["batch_size"] != 100 {
		t.Errorf("connector %+v", k)
	}
	if k.MaxBatchBytes != 1<<20 {
		t.Errorf("max_batch_bytes %d: want 1048576", k.MaxBatchBytes)
	}
	if k.Line != 9 || k.SettingLines["dsn"] != 14 {
		t.Errorf("lines: connector %d, dsn %d", k.Line, k.SettingLines["dsn"])
	}
	if w := k.Where(c.File, "dsn"); w != "/etc/crmhub/good.yaml:14: connectors[0].settings.dsn" {
		t.Errorf("where %q", w)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		env       map[string]string
		want      []string // every fragment must appear
	}{
		{"unknown key", "http:\n  listen: x\n  lisen: y\n", nil, []string{"f.yaml:3", "http.lisen: unknown key (did you mean listen?)"}},
		{"unknown connector key", "connectors:\n  - name: a\n    plugin: sql\n    pluginn: x\n", nil, []string{"f.yaml:4", `connectors[0].pluginn`}},
		{"wrong type", "kafka:\n  partitions: many\n", nil, []string{`f.yaml:2: kafka.partitions: want an integer, got "many"`}},
		{"bad duration", "connectors:\n  - name: a\n    plugin: sql\n    poll_interval: soon\n", nil, []string{`f.yaml:4: connectors[0].poll_interval: want a duration like 5s or 1m, got "soon"`}},
		{"missing env", "store:\n  dsn: ${PGDSN}\n", nil, []string{"f.yaml:2", "PGDSN is not set"}},
		{"duplicate names", "connectors:\n  - {name: a, plugin: sql}\n  - {name: a, plugin: rest}\n", nil, []string{"f.yaml:3", "already used at line 2"}},
		{"missing plugin", "connectors:\n  - name: a\n", nil, []string{"f.yaml:2", "connectors[0].plugin", "required"}},
		{"bad driver", "store:\n  driver: oracle\n", nil, []string{"store.driver", "oracle"}},
		{"unknown role", "roles: [connectors, aply]\n", nil, []string{"roles", "aply"}},
		{"tiny batch bytes", "connectors:\n  - name: a\n    plugin: sql\n    max_batch_bytes: 1000\n", nil, []string{"f.yaml:2", "connectors[0].max_batch_bytes", "below 65536"}},
		{"negative batch bytes", "connectors:\n  - name: a\n    plugin: sql\n    max_batch_bytes: -1\n", nil, []string{"connectors[0].max_batch_bytes"}},
		{"tiny memory budget", "data_dir: d\nmemory_mb: 64\n", nil, []string{"f.yaml:2: memory_mb: 64", "at least 128"}},
		{"negative memory budget", "memory_mb: -5\n", nil, []string{"f.yaml:1: memory_mb: -5"}},
		{"tiny message limit", "kafka:\n  max_message_bytes: 100\n", nil, []string{"kafka.max_message_bytes", "below 4096"}},
		{"unknown compression", "kafka:\n  compression: brotli\n", nil, []string{"kafka.compression", "brotli", "snappy"}},
		{"bad tax id veto", "identity:\n  tax_id_veto: persons\n", nil, []string{"identity.tax_id_veto", "persons"}},
		{"bad estimate", "identity:\n  fuzzy:\n    people: {estimate: weekly}\n", nil, []string{"identity.fuzzy.people.estimate", "weekly"}},
		{"tiny estimate minimum", "identity:\n  fuzzy:\n    people: {estimate_min_records: 10}\n", nil, []string{"identity.fuzzy.people.estimate_min_records", "100 or more"}},
		{"sample below minimum", "identity:\n  fuzzy:\n    people: {estimate_min_records: 5000, estimate_sample: 2000}\n", nil, []string{"identity.fuzzy.people.estimate_sample", "below estimate_min_records 5000"}},
		{"sample below the default minimum", "identity:\n  fuzzy:\n    people: {estimate_sample: 200}\n", nil, []string{"identity.fuzzy.people.estimate_sample", "below estimate_min_records 250"}},
		{"two errors at once", "http:\n  x: 1\nkafka:\n  y: 2\n", nil, []string{"f.yaml:2: http.x: unknown key", "f.yaml:4: kafka.y: unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.doc), env(tt.env))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestQuotedEnvStaysString(t *testing.T) {
	c, err := Parse("f.yaml", []byte("kafka:\n  client_id: \"${ID}\"\n"), env(map[string]string{"ID": "123"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.ClientID != "123" {
		t.Errorf("client_id %q", c.Kafka.ClientID)
	}
}

// ${VAR} expands inside YAML flow mappings and sequences too, typed like a
// plain value; an expanded value never becomes YAML syntax.
func TestEnvInFlowMappings(t *testing.T) {
	doc := "kafka: {partitions: ${N:-1}, brokers: [${B1}, \"${B2:-b2:9092}\"]}\nhttp: {listen: \"${L}\"}\n"
	c, err := Parse("f.yaml", []byte(doc), env(map[string]string{"N": "3", "B1": "b1:9092", "L": "x: {y}"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.Partitions != 3 || len(c.Kafka.Brokers) != 2 || c.Kafka.Brokers[0] != "b1:9092" || c.Kafka.Brokers[1] != "b2:9092" {
		t.Errorf("partitions %d brokers %v", c.Kafka.Partitions, c.Kafka.Brokers)
	}
	if c.HTTP.Listen != "x: {y}" {
		t.Errorf("listen %q: a value with YAML syntax must stay a value", c.HTTP.Listen)
	}
	c, err = Parse("f.yaml", []byte(doc), env(map[string]string{"B1": "b1:9092", "L": ":8080"}))
	if err != nil || c.Kafka.Partitions != 1 {
		t.Errorf("default in a flow mapping: partitions %v %v", c, err)
	}
	if _, err := Parse("f.yaml", []byte("kafka: {partitions: ${N}}\n"), env(nil)); err == nil || !strings.Contains(err.Error(), "f.yaml:1: environment variable N is not set") {
		t.Errorf("missing variable in a flow mapping: %v", err)
	}
}
