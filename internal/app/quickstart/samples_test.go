package quickstart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crmhub/crmhub/deploy"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/internal/app/quickstart"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// The quickstart_demo_* golden cases run the shipped quickstart mappings on
// records of a generated demo (this seed and size), read by the quickstart's
// real connectors: the sql connector's payload for an ERP row, the file
// connector's for a Latin-1 CSV line, the rest connector's for a CRM contact
// or a ticket. TestQuickstartDemoSamples checks that the inputs still are
// what the generator and the connectors produce; -update rewrites them (and
// mapping's TestGolden -update then rewrites the expected outputs, which a
// human reads). It lives here, not in mapping, so that mapping's tests do
// not link the connectors.
// updateSamples rewrites the inputs of mapping/testdata/quickstart_demo_*.
var updateSamples = flag.Bool("update", false, "rewrite the quickstart_demo_* inputs in mapping/testdata")

const (
	sampleSeed   = 6
	samplePeople = 100
)

// feature picks a record worth a golden line: noisy input, an edge of the
// mapping, or a record broken on purpose.
type feature struct {
	name string
	is   func(p map[string]any, res result) bool
}

// result is how the shipped mapping handled a candidate record.
type result struct {
	op       string
	err      error
	warnings []string
}

func has(p map[string]any, k string) bool {
	v, ok := p[k]
	if !ok || v == nil {
		return false
	}
	s, isStr := v.(string)
	return !isStr || strings.TrimSpace(s) != ""
}

func str(p map[string]any, k string) string { s, _ := p[k].(string); return s }

func nonASCII(p map[string]any, keys ...string) bool {
	for _, k := range keys {
		s := str(p, k)
		if len(s) != utf8.RuneCountInString(s) {
			return true
		}
	}
	return false
}

var (
	first    = feature{"first", func(map[string]any, result) bool { return true }}
	failed   = feature{"mapping error", func(_ map[string]any, r result) bool { return r.err != nil }}
	warned   = feature{"warning", func(_ map[string]any, r result) bool { return len(r.warnings) > 0 }}
	deleted  = feature{"delete", func(_ map[string]any, r result) bool { return r.op == "delete" }}
	thousand = func(k string) feature {
		return feature{k + " with thousands separator", func(p map[string]any, _ result) bool {
			s := str(p, k)
			return strings.Contains(s, ".") && strings.Contains(s, ",")
		}}
	}
	missing = func(k string) feature {
		return feature{"no " + k, func(p map[string]any, r result) bool { return r.err == nil && !has(p, k) }}
	}
	umlaut = func(keys ...string) feature {
		return feature{"non-ASCII " + strings.Join(keys, ","), func(p map[string]any, r result) bool { return r.err == nil && nonASCII(p, keys...) }}
	}
	equals = func(k, v string) feature {
		return feature{k + "=" + v, func(p map[string]any, r result) bool { return r.err == nil && str(p, k) == v }}
	}
	contains = func(k, sub string) feature {
		return feature{k + " contains " + sub, func(p map[string]any, r result) bool {
			return r.err == nil && strings.Contains(str(p, k), sub)
		}}
	}
)

// sampleFeatures lists, per quickstart mapping, the records each golden case
// must show. Each feature takes the first record (in read order) that has it
// and is not taken yet.
var sampleFeatures = map[string][]feature{
	"erp/customers": {deleted, first, equals("kind", "F"), equals("kind", "P"), umlaut("name1", "name2", "street", "city"),
		missing("email"), missing("phone"), missing("vat_id"), feature{"foreign country", func(p map[string]any, r result) bool {
			return r.err == nil && has(p, "country") && str(p, "country") != "DE" && str(p, "country") != "Deutschland"
		}}, equals("country", "D")}, // the old vehicle code, read as DE
	"erp/orders": {first, feature{"several lines", func(p map[string]any, _ result) bool { return strings.Count(str(p, "lines"), "line_no") >= 3 }},
		equals("status", "X"), equals("status", "S"), feature{"non-EUR", func(p map[string]any, _ result) bool { return has(p, "currency") && str(p, "currency") != "EUR" }},
		umlaut("lines")},
	"finance/debtors": {first, umlaut("name", "street", "city"), contains("name", ","), missing("vat_id"), feature{"vat id", func(p map[string]any, r result) bool { return r.err == nil && has(p, "vat_id") }},
		missing("erp_custno"), missing("email"), thousand("credit_limit")},
	"finance/invoices": {failed, first, thousand("amount"), equals("status", "bezahlt"), equals("status", "storniert"),
		feature{"non-EUR", func(p map[string]any, _ result) bool { return has(p, "currency") && str(p, "currency") != "EUR" }}},
	"finance/payments": {first, thousand("amount"),
		feature{"non-EUR", func(p map[string]any, _ result) bool { return has(p, "currency") && str(p, "currency") != "EUR" }}},
	"crm/contacts": {failed, first, umlaut("first_name", "last_name"), feature{"employee", func(p map[string]any, r result) bool { return r.err == nil && has(p, "company") }},
		feature{"erp cross reference", func(p map[string]any, r result) bool {
			return r.err == nil && has(p, "erp_customer_no") && !has(p, "company")
		}},
		feature{"mobile and phone", func(p map[string]any, r result) bool { return r.err == nil && has(p, "mobile") && has(p, "phone") }},
		missing("email"), missing("first_name"), equals("language", "en")},
	"servicedesk/tickets": {first, equals("status", "closed"), equals("status", "waiting"), equals("priority", "urgent"),
		equals("priority", "medium"), umlaut("subject")},
}

// sampleCase names the golden case directory of a mapping.
func sampleCase(mappingName string) string {
	return filepath.Join("..", "..", "..", "mapping", "testdata", "quickstart_demo_"+mappingName)
}

type inputLine struct {
	SourceID  string          `json:"source_id"`
	UpdatedAt string          `json:"updated_at,omitempty"`
	Op        string          `json:"op,omitempty"`
	Payload   json.RawMessage `json:"payload"`
}

// readQuickstartDemo generates the demo and reads it through the
// quickstart's connectors; it returns the records per "system/entity" in
// read order, and the mappings.
func readQuickstartDemo(t *testing.T) (map[string][]mapping.Input, *mapping.Set) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	demoDir, cfgDir := t.TempDir(), t.TempDir()
	if _, err := demo.Generate(ctx, demo.Options{Dir: demoDir, Seed: sampleSeed, People: samplePeople}); err != nil {
		t.Fatal(err)
	}
	srv, err := demo.NewServer(demoDir)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	if err := os.CopyFS(cfgDir, deploy.Quickstart()); err != nil {
		t.Fatal(err)
	}
	env := deploy.QuickstartEnv(t.TempDir(), demoDir, ts.URL)
	path := filepath.Join(cfgDir, "crmhub.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(path, b, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("quickstart config: %v", err)
	}
	// The shipped files, not the embedded copy: the golden cases test them.
	set, err := mapping.LoadDir(filepath.Join("..", "..", "..", "deploy", "quickstart", "mappings"))
	if err != nil {
		t.Fatalf("quickstart mappings: %v", err)
	}
	recs := map[string][]mapping.Input{}
	if err := quickstart.ReadSources(ctx, cfg, func(c config.Connector, r sdk.Record) {
		if r.Error != "" {
			return // a line the connector could not read never reaches a mapping
		}
		key := c.System + "/" + r.Entity
		recs[key] = append(recs[key], mapping.Input{System: c.System, Entity: r.Entity, SourceID: r.ID,
			UpdatedAt: r.UpdatedAt, Op: string(r.Op), Payload: r.Payload})
	}); err != nil {
		t.Fatal(err)
	}
	return recs, set
}

// pickSamples takes, for each feature, the first record that has it.
func pickSamples(t *testing.T, key string, m *mapping.Mapping, recs []mapping.Input) []mapping.Input {
	t.Helper()
	taken := map[int]bool{}
	for _, f := range sampleFeatures[key] {
		found := false
		for i, in := range recs {
			if taken[i] {
				continue
			}
			var p map[string]any
			if err := json.Unmarshal(in.Payload, &p); err != nil {
				t.Fatalf("%s/%s: payload: %v", key, in.SourceID, err)
			}
			out, err := m.Apply(in)
			if f.is(p, result{op: out.Op, err: err, warnings: out.Warnings}) {
				taken[i], found = true, true
				break
			}
		}
		if !found {
			// The generator no longer makes such a record at this size: the
			// golden case would silently lose its point.
			t.Errorf("%s: no record with %s among %d", key, f.name, len(recs))
		}
	}
	var out []mapping.Input
	for i, in := range recs {
		if taken[i] {
			out = append(out, in)
		}
	}
	return out
}

func encodeInputs(t *testing.T, ins []mapping.Input) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, in := range ins {
		l := inputLine{SourceID: in.SourceID, Op: in.Op, Payload: in.Payload}
		if l.Op == "upsert" {
			l.Op = ""
		}
		if !in.UpdatedAt.IsZero() {
			l.UpdatedAt = in.UpdatedAt.UTC().Format(time.RFC3339Nano)
		}
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// TestQuickstartDemoSamples checks that the inputs of the quickstart_demo_*
// golden cases are what the quickstart's connectors read from a generated
// demo, and that each case holds a record for every feature it must show.
func TestQuickstartDemoSamples(t *testing.T) {
	update := *updateSamples
	recs, set := readQuickstartDemo(t)
	keys := make([]string, 0, len(sampleFeatures))
	for k := range sampleFeatures {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var customers []mapping.Input
	for _, key := range keys {
		system, entity, _ := strings.Cut(key, "/")
		m, ok := set.Lookup(system, entity)
		if !ok {
			t.Fatalf("no quickstart mapping for %s", key)
		}
		ins := pickSamples(t, key, m, recs[key])
		if key == "erp/customers" {
			customers = ins
		}
		checkOrWrite(t, m.Name(), encodeInputs(t, ins), update)
	}
	// The write-back mapping reads golden customers: those the ERP samples
	// become, with the golden id the hub would give them.
	var golden bytes.Buffer
	m, _ := set.Lookup("erp", "customers")
	for _, in := range customers {
		out, err := m.Apply(in)
		if err != nil || out.Op == "delete" {
			continue
		}
		b, _ := json.Marshal(inputLine{SourceID: "g-erp-" + in.SourceID, Payload: out.Data})
		golden.Write(b)
		golden.WriteByte('\n')
	}
	checkOrWrite(t, "erp_customers_writeback", golden.Bytes(), update)
}

func checkOrWrite(t *testing.T, name string, got []byte, update bool) {
	t.Helper()
	dir := sampleCase(name)
	in := filepath.Join(dir, "input.jsonl")
	if update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		mp := filepath.Join(dir, "mapping.path")
		if err := os.WriteFile(mp, []byte("../../../deploy/quickstart/mappings/"+name+".yaml\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(in, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(in)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/app/quickstart -run QuickstartDemoSamples -update, then go test ./mapping -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: the connectors now read other sample records from the demo (seed %d, %d people); "+
			"rerun with -update and read the new expected.jsonl\n got:\n%s\nwant:\n%s", in, sampleSeed, samplePeople, got, want)
	}
}
