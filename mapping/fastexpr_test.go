package mapping

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// mappingPrograms lists every program of m with a name for messages.
func mappingPrograms(m *Mapping) map[string]*program {
	ps := map[string]*program{}
	if m.dropIf != nil {
		ps["drop_if"] = m.dropIf
	}
	if m.deleteIf != nil {
		ps["delete_if"] = m.deleteIf
	}
	for _, f := range m.fields {
		if f.expr != nil {
			ps[f.target] = f.expr
		}
		if f.def != nil {
			ps[f.target+" (default)"] = f.def
		}
	}
	return ps
}

// mutations returns rec and variants of it with each field missing,
// null, of another JSON type, or holding odd text, the edge cases a
// direct evaluation could get wrong.
func mutations(rec map[string]any) []map[string]any {
	out := []map[string]any{rec}
	for k := range rec {
		for _, v := range []any{"<del>", nil, json.Number("42"), 42.5, true, "", "  ", "\xff", map[string]any{"a": "b"}, []any{"x", 1.0}} {
			c := maps.Clone(rec)
			if v == "<del>" {
				delete(c, k)
			} else {
				c[k] = v
			}
			out = append(out, c)
		}
	}
	return out
}

// compareFast evaluates every fast program of m on rec both directly and
// on the VM and requires the same value, error text and drops. It returns
// how many programs were compared.
func compareFast(t *testing.T, m *Mapping, in Input, rec map[string]any) int {
	t.Helper()
	st := &applyState{env: map[string]any{}, meta: map[string]any{}}
	n := 0
	for name, p := range mappingPrograms(m) {
		if p.fast == nil {
			continue
		}
		n++
		clear(st.env)
		st.fill(m, in, rec)
		fv, ferr := p.fast.eval(st.env, st.args[:])
		fdrops := append([]Dropped(nil), st.sink.drops...)
		st.sink.drops = st.sink.drops[:0]
		if !p.fast.needsEnv {
			// As Apply runs it without the env map: names from the
			// record and the state.
			sc := st.scope
			sc.env = nil
			sv, serr := p.fast.evalScope(&sc, st.args[:])
			if (serr == nil) != (ferr == nil) || (serr != nil && runMsg(serr) != runMsg(ferr)) || !reflect.DeepEqual(sv, fv) ||
				!reflect.DeepEqual(st.sink.drops, fdrops) && (len(fdrops) > 0 || len(st.sink.drops) > 0) {
				t.Fatalf("%s %s (%q) on %v: without the env map %#v %v %v, with it %#v %v %v", m.Name(), name, p.src, rec, sv, serr, st.sink.drops, fv, ferr, fdrops)
			}
			st.sink.drops = st.sink.drops[:0]
		}
		vv, verr := st.vm.Run(p.prog, st.env)
		if (ferr == nil) != (verr == nil) || (ferr != nil && runMsg(ferr) != runMsg(verr)) {
			t.Fatalf("%s %s (%q) on %v: error %v, VM %v", m.Name(), name, p.src, rec, ferr, verr)
		}
		if !reflect.DeepEqual(fv, vv) {
			t.Fatalf("%s %s (%q) on %v: value %#v, VM %#v", m.Name(), name, p.src, rec, fv, vv)
		}
		if !reflect.DeepEqual(fdrops, st.sink.drops) && (len(fdrops) > 0 || len(st.sink.drops) > 0) {
			t.Fatalf("%s %s (%q) on %v: drops %v, VM %v", m.Name(), name, p.src, rec, fdrops, st.sink.drops)
		}
	}
	return n
}

// TestFastProgramsMatchVM evaluates every field of every record of the
// golden cases and the quickstart mappings (and mutations of each record)
// both directly and on expr's VM.
func TestFastProgramsMatchVM(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/*/input.jsonl")
	if len(dirs) == 0 {
		t.Fatal("no golden inputs")
	}
	total, fastProgs, allProgs := 0, 0, 0
	for _, inPath := range dirs {
		dir := filepath.Dir(inPath)
		mf := filepath.Join(dir, "mapping.yaml")
		if p, err := os.ReadFile(filepath.Join(dir, "mapping.path")); err == nil {
			mf = filepath.Join(dir, strings.TrimSpace(string(p)))
		}
		m, err := LoadFile(mf)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, p := range mappingPrograms(m) {
			allProgs++
			if p.fast != nil {
				fastProgs++
			}
		}
		inputs, err := ReadInputs(inPath, m.system, m.entity, "")
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, in := range inputs {
			rec, err := decodeRecord(in.Payload)
			if err != nil {
				continue
			}
			for _, r := range mutations(rec) {
				total += compareFast(t, m, in, r)
			}
		}
	}
	t.Logf("%d of %d programs direct, %d evaluations compared", fastProgs, allProgs, total)
	if fastProgs == 0 || total == 0 {
		t.Fatal("no program took the direct path")
	}
}

const fastEdgeMapping = `
mapping: fast_edges
version: 1
source: {system: erp, entity: customers}
target: {entity: customer}
tables:
  status: {A: active}
fields:
  custom.a: name
  custom.b: record.name
  custom.c: record.nested.city
  custom.d: '"text"'
  custom.e: 42
  custom.f: "null"
  custom.g: "true"
  custom.h: 1.5
  custom.i: lower(email)
  custom.j: phone(tel, "DE")
  custom.k: title(record.name)
  custom.l: lookup("status", status)
  custom.m: lookup("status", status, "other")
  custom.n: email(email)
  custom.o: upper(type)
  custom.p: trim(record.nested.city)
  custom.q: money(amount, "EUR", "de")
  custom.r: name + "x"
  custom.s: upper(lower(name))
  custom.t: 'name ?? "none"'
  custom.u: -1
  custom.v: meta.source_id
  custom.w: golden_id
  custom.x: 'record.meta ?? meta.system'
`

// TestFastShapes: which shapes are evaluated directly and that each gives
// the VM's result on missing, null and wrongly typed fields.
func TestFastShapes(t *testing.T) {
	m, err := Parse("fast_edges", []byte(fastEdgeMapping))
	if err != nil {
		t.Fatal(err)
	}
	wantFast := map[string]bool{"a": true, "b": true, "c": true, "d": true, "e": true, "f": true, "g": true, "h": true,
		"i": true, "j": true, "k": true, "l": true, "m": true, "n": true, "o": true, "p": true, "q": true, "s": true, "t": true, "u": true, "v": true, "w": true, "x": true}
	for _, f := range m.fields {
		if got := f.expr.fast != nil; got != wantFast[strings.TrimPrefix(f.target, "custom.")] {
			t.Errorf("%s (%s): direct = %v, want %v", f.target, f.expr.src, got, wantFast[strings.TrimPrefix(f.target, "custom.")])
		}
	}
	recs := []map[string]any{
		{},
		{"name": "anna schmidt", "email": " A@B.DE ", "tel": "030 1234567", "status": "A", "type": "x", "amount": "1.234,50", "nested": map[string]any{"city": " Köln "}},
		{"name": nil, "email": nil, "tel": nil, "status": nil, "type": nil, "amount": nil, "nested": nil},
		{"name": 12.0, "email": true, "tel": 123.0, "status": "Z", "type": []any{"a"}, "amount": "abc", "nested": "flat"},
		{"name": map[string]any{}, "email": "not an email", "tel": "12", "status": 1.0, "amount": true, "nested": []any{1.0}},
		{"name": "\xff", "email": "", "tel": "", "status": "", "nested": map[string]any{"city": 3.0}},
		{"meta": "field", "record": "field", "golden_id": "g1", "$crmhub_sink": "x", "name": "a"},
	}
	for _, r := range recs {
		for _, mr := range mutations(r) {
			compareFast(t, m, Input{SourceID: "1", System: "erp", Entity: "customers"}, mr)
		}
	}
}

// TestFastProgramAllocs: a direct call allocates less than the VM, which
// allocates an argument buffer on every run.
func TestFastProgramAllocs(t *testing.T) {
	m, err := Parse("allocs", []byte(fastEdgeMapping))
	if err != nil {
		t.Fatal(err)
	}
	var p *program
	for _, f := range m.fields {
		if f.target == "custom.p" {
			p = f.expr
		}
	}
	if p.fast == nil {
		t.Fatalf("%s is not evaluated directly", p.src)
	}
	st := &applyState{env: map[string]any{}, meta: map[string]any{}}
	st.fill(m, Input{SourceID: "1"}, map[string]any{"nested": map[string]any{"city": "Köln"}})
	direct := testing.AllocsPerRun(100, func() {
		if v, err := st.run(p); err != nil || v != "Köln" {
			t.Fatalf("trim: %v %v", v, err)
		}
	})
	onVM := testing.AllocsPerRun(100, func() {
		if v, err := st.vm.Run(p.prog, st.env); err != nil || v != "Köln" {
			t.Fatalf("trim: %v %v", v, err)
		}
	})
	t.Logf("allocations a run: direct %v, VM %v", direct, onVM)
	// trim boxes its result (one allocation); nothing else may allocate.
	if direct > 1 || direct >= onVM {
		t.Errorf("trim(record.nested.city) allocates %v times a run directly, %v on the VM", direct, onVM)
	}
}

// FuzzFastPrograms: any field values, every direct program of the edge
// mapping and the benchmark's customer mapping agrees with the VM.
func FuzzFastPrograms(f *testing.F) {
	f.Add("030 1234567", 1.5, true, "de")
	f.Add(" A@B.DE ", -0.0, false, "")
	f.Add("\xff\x00", 1e300, true, "01.02.2020 10:00")
	edges, err := Parse("fast_edges", []byte(fastEdgeMapping))
	if err != nil {
		f.Fatal(err)
	}
	bench, err := LoadFile("testdata/bench/customer20.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string, x float64, b bool, s2 string) {
		vals := []any{s, x, b, s2, nil, map[string]any{"city": s}, []any{s2, x}}
		for _, m := range []*Mapping{edges, bench} {
			for i := range vals {
				rec := map[string]any{}
				for j, k := range []string{"name", "email", "tel", "status", "type", "amount", "nested",
					"company", "vat_id", "email2", "phone", "mobile", "street", "zip", "city", "country",
					"lang", "segment", "credit_limit", "created", "crm_id"} {
					rec[k] = vals[(i+j)%len(vals)]
				}
				compareFast(t, m, Input{SourceID: "1", System: "erp", Entity: "customers"}, rec)
			}
		}
	})
}

// BenchmarkFieldPrograms runs the programs of the benchmark's customer
// mapping that are evaluated directly, once a record: directly and on
// the VM, in the same process, so that the two can be set side by side.
func BenchmarkFieldPrograms(b *testing.B) {
	m, err := LoadFile("testdata/bench/customer20.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var progs []*program
	for _, p := range mappingPrograms(m) {
		if p.fast != nil {
			progs = append(progs, p)
		}
	}
	b.Logf("%d of %d programs direct", len(progs), len(mappingPrograms(m)))
	ins := benchInputs(1024)
	recs := make([]map[string]any, len(ins))
	for i, in := range ins {
		if recs[i], err = decodeRecord(in.Payload); err != nil {
			b.Fatal(err)
		}
	}
	for _, direct := range []bool{false, true} {
		name := "vm"
		if direct {
			name = "direct"
		}
		b.Run(name, func(b *testing.B) {
			st := &applyState{env: map[string]any{}, meta: map[string]any{}}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				n := i % len(recs)
				st.fill(m, ins[n], recs[n])
				for _, p := range progs {
					var err error
					if direct {
						_, err = p.fast.eval(st.env, st.args[:])
					} else {
						_, err = st.vm.Run(p.prog, st.env)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				st.sink.drops = st.sink.drops[:0]
			}
		})
	}
}

// TestFastReverseGoldenID: in a reverse mapping golden_id is the golden
// customer's id (the input's SourceID), not a field, also without the
// env map.
func TestFastReverseGoldenID(t *testing.T) {
	m, err := Parse("rev", []byte("mapping: rev\nversion: 1\nsource: {entity: customer}\ntarget: {system: erp, entity: customers}\n"+
		"fields:\n  ref: golden_id\n  name: 'golden_id ?? family_name'\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.needsEnv {
		t.Fatal("every program is direct, yet Apply builds the env map")
	}
	for _, rec := range []map[string]any{{"family_name": "x"}, {"golden_id": "field", "family_name": "x"}} {
		compareFast(t, m, Input{SourceID: "g-1"}, rec)
	}
	out, err := m.Apply(Input{SourceID: "g-1", Payload: []byte(`{"golden_id":"field","family_name":"x"}`)})
	if err != nil || string(out.Data) != `{"name":"g-1","ref":"g-1"}` {
		t.Fatalf("apply: %s %v", out.Data, err)
	}
}
