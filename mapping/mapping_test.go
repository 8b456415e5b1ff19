package mapping

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
)

const personMapping = `mapping: %s
version: %d
source: {system: %s, entity: people}
target: {entity: customer}
fields:
  kind: '"person"'
  family_name: trim(name)
  emails[]: email(email)
  segment: type
  language: lower(date)
`

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestApplyShadowedNamesAndErrors(t *testing.T) {
	m, err := Parse("p.yaml", []byte(fmt.Sprintf(personMapping, "people", 1, "crm")))
	if err != nil {
		t.Fatal(err)
	}
	// Source fields named like functions (type, date, email) are read as fields.
	out, err := m.Apply(Input{SourceID: "1", Payload: []byte(`{"name":"Kraus","email":"L@K.DE","type":"vip","date":"DE"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out.Data), `{"emails":["l@k.de"],"family_name":"Kraus","kind":"person","language":"de","segment":"vip"}`; got != want {
		t.Errorf("data = %s, want %s", got, want)
	}
	if out.Op != hub.OpUpsert || out.Entity != "customer" || out.SchemaVersion != "v1" {
		t.Errorf("out = %+v", out)
	}
	for _, tc := range []struct{ payload, field, class string }{
		{`[1]`, "payload", hub.ReasonMapping},
		{`{"name":`, "payload", hub.ReasonMapping},
		{`{"name":{"a":1}}`, "family_name", hub.ReasonMapping},
		{`{"email":"x@y.de"}`, "family_name", hub.ReasonValidation},
		{`{"name":"X","date":"Deutsch"}`, "language", hub.ReasonValidation},
	} {
		_, err := m.Apply(Input{SourceID: "r-7", Payload: []byte(tc.payload)})
		var re *RecordError
		if !errors.As(err, &re) {
			t.Fatalf("%s: err = %v, want a RecordError", tc.payload, err)
		}
		if re.Field != tc.field || re.ReasonClass != tc.class || re.SourceID != "r-7" || re.Mapping != "people" || re.Version != 1 {
			t.Errorf("%s: %+v", tc.payload, re)
		}
		if !strings.Contains(re.Error(), `record "r-7"`) || !strings.Contains(re.Error(), tc.field) {
			t.Errorf("message does not name record and field: %v", re)
		}
	}
	out, err = m.Apply(Input{SourceID: "9", Op: hub.OpDelete})
	if err != nil || out.Op != hub.OpDelete || out.Data != nil {
		t.Errorf("delete: %+v %v", out, err)
	}
}

func TestApplyConcurrent(t *testing.T) {
	m, err := LoadFile("testdata/customer_erp/mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ins, err := ReadInputs("testdata/customer_erp/input.jsonl", "erp", "customers", "")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]string, len(ins))
	for i, in := range ins {
		want[i] = apply(m, in)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 20; r++ {
				for i, in := range ins {
					if got := apply(m, in); got != want[i] {
						t.Errorf("record %d differs under concurrency: %s", i, got)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// apply renders one outcome for comparison: the output, or the error.
func apply(m *Mapping, in Input) string {
	out, err := m.Apply(in)
	if err != nil {
		return in.SourceID + " error: " + err.Error()
	}
	return fmt.Sprintf("%s %s %t %s %q", in.SourceID, out.Op, out.Skip, out.Data, out.Warnings)
}

func TestSetReloadKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), fmt.Sprintf(personMapping, "a", 1, "crm"))
	writeFile(t, filepath.Join(dir, "b.yml"), fmt.Sprintf(personMapping, "b", 1, "erp"))
	writeFile(t, filepath.Join(dir, "notes.txt"), "not a mapping")
	s, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.All()) != 2 {
		t.Fatalf("all = %d", len(s.All()))
	}
	m, ok := s.Lookup("erp", "people")
	if !ok || m.Name() != "b" {
		t.Fatalf("lookup erp/people = %v %v", m, ok)
	}
	if _, ok := s.Lookup("erp", "nope"); ok {
		t.Error("lookup of an unmapped entity succeeded")
	}

	// A broken file and a duplicate source: both reported, old set kept.
	writeFile(t, filepath.Join(dir, "b.yml"), strings.Replace(fmt.Sprintf(personMapping, "b", 2, "erp"), "trim(name)", "trim(name", 1))
	writeFile(t, filepath.Join(dir, "c.yaml"), fmt.Sprintf(personMapping, "c", 1, "crm"))
	err = s.Reload(dir)
	if err == nil {
		t.Fatal("reload of broken mappings succeeded")
	}
	for _, want := range []string{"b.yml:7: fields.family_name", "c.yaml:1: source: source crm/people is also mapped by"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("reload error lacks %q:\n%v", want, err)
		}
	}
	if m, _ := s.Lookup("erp", "people"); m.Version() != 1 {
		t.Errorf("old mapping not kept: v%d", m.Version())
	}

	// The watcher picks up the fix.
	os.Remove(filepath.Join(dir, "c.yaml"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloaded := make(chan error, 4)
	go s.Watch(ctx, dir, 10*time.Millisecond, func(err error) { reloaded <- err })
	time.Sleep(30 * time.Millisecond)
	writeFile(t, filepath.Join(dir, "b.yml"), fmt.Sprintf(personMapping, "b", 3, "erp"))
	for {
		select {
		case err := <-reloaded:
			if err != nil {
				continue // an intermediate state (a file mid-write)
			}
			if m, _ := s.Lookup("erp", "people"); m.Version() != 3 {
				continue
			}
			return
		case <-time.After(5 * time.Second):
			t.Fatal("watcher did not reload")
		}
	}
}

func TestDeclaredSourceFields(t *testing.T) {
	_, err := Parse("d.yaml", []byte(`mapping: d
version: 1
source: {system: s, entity: e, fields: [name]}
target: {entity: customer}
fields:
  kind: person
  family_name: nmae
`))
	if err == nil || !strings.Contains(err.Error(), "d.yaml:6: fields.kind: unknown name person") || !strings.Contains(err.Error(), "d.yaml:7: fields.family_name: unknown name nmae") {
		t.Fatalf("err = %v", err)
	}
}

func TestRewriteMapLines(t *testing.T) {
	for in, want := range map[string]string{
		`map_lines(x, {"a": #.b})`:                             `map(x, ({"a": #.b}))`,
		`len(map_lines(f(x, y), {"a": "map_lines(", "b": 1}))`: `len(map(f(x, y), ({"a": "map_lines(", "b": 1})))`,
		`"map_lines(x, y)"`:                                    `"map_lines(x, y)"`,
		`map_lines(map_lines(x, {"a": #}), {"b": #.a})`:        `map(map(x, ({"a": #})), ({"b": #.a}))`,
	} {
		if got := rewriteMapLines(in); got != want {
			t.Errorf("rewrite(%s) = %s, want %s", in, got, want)
		}
	}
}
