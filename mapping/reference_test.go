package mapping

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/mapping/internal/jsonfast"
	"github.com/crmhub/crmhub/schemas"
)

// applyReference is the engine as it was before the fast paths: decode
// with encoding/json, a fresh environment, gojsonschema on every document
// through its Go loader, encode with encoding/json, and phone numbers
// parsed every time. TestApplyMatchesReference and FuzzApplyEquivalence
// hold Apply to it, and BenchmarkApplyCustomerReference measures it.
func (m *Mapping) applyReference(in Input) (Output, error) {
	out := Output{Op: in.Op, Entity: m.target, SchemaVersion: m.schemaVersion}
	if out.Op == "" {
		out.Op = hub.OpUpsert
	}
	if out.Op == hub.OpDelete {
		return out, nil
	}
	if out.Op != hub.OpUpsert {
		return out, m.recErr(in, "op", hub.ReasonMapping, fmt.Sprintf("unknown op %q", in.Op))
	}
	rec, err := decodeRecord(in.Payload)
	if err != nil {
		return out, m.recErr(in, "payload", hub.ReasonMapping, err.Error())
	}
	env := make(map[string]any, len(rec)+2)
	for k, v := range rec {
		env[k] = v
	}
	meta := map[string]any{"system": in.System, "entity": in.Entity, "source_id": in.SourceID, "updated_at": nil}
	if !in.UpdatedAt.IsZero() {
		meta["updated_at"] = in.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	env["record"], env["meta"] = rec, meta
	sink := &dropSink{}
	env[sinkVar] = sink
	runRef := func(p *program) (any, error) { return expr.Run(p.prog, env) }
	if m.dropIf != nil {
		sink.field = "drop_if"
		v, err := runRef(m.dropIf)
		if err != nil {
			return out, m.recErr(in, "drop_if", hub.ReasonMapping, runMsg(err))
		}
		_ = m.takeDrops(in, &out, &field{target: "drop_if"}, sink)
		if b, _ := v.(bool); b {
			out.Skip = true
			return out, nil
		}
	}
	if m.deleteIf != nil {
		sink.field = "delete_if"
		v, err := runRef(m.deleteIf)
		if err != nil {
			return out, m.recErr(in, "delete_if", hub.ReasonMapping, runMsg(err))
		}
		_ = m.takeDrops(in, &out, &field{target: "delete_if"}, sink)
		if b, _ := v.(bool); b {
			out.Op = hub.OpDelete
			return out, nil
		}
	}
	doc := make(map[string]any, len(m.fields)+1)
	for _, f := range m.fields {
		sink.field = f.target
		v, err := runRef(f.expr)
		if err != nil {
			return out, m.recErr(in, f.target, hub.ReasonMapping, runMsg(err))
		}
		if err := m.takeDrops(in, &out, f, sink); err != nil {
			return out, err
		}
		if isNil(v) && f.def != nil {
			if v, err = runRef(f.def); err != nil {
				return out, m.recErr(in, f.target, hub.ReasonMapping, "default: "+runMsg(err))
			}
		}
		if isNil(v) {
			continue
		}
		if err := setPath(doc, f.path, v); err != nil {
			return out, m.recErr(in, f.target, hub.ReasonMapping, err.Error())
		}
	}
	if m.carryCustom {
		custom, _ := doc["custom"].(map[string]any)
		for k, v := range rec {
			if m.used[k] {
				continue
			}
			if custom == nil {
				custom = map[string]any{}
			}
			if _, set := custom[k]; !set {
				custom[k] = v
			}
		}
		if custom != nil {
			doc["custom"] = custom
		}
	}
	prune(doc)
	return m.finishSlow(in, out, doc)
}

// sameResult compares two Apply outcomes; violations are compared as sets
// (gojsonschema reports them in map order).
func sameResult(a Output, aerr error, b Output, berr error) bool {
	if (aerr == nil) != (berr == nil) {
		return false
	}
	if aerr != nil {
		ra, oka := aerr.(*RecordError)
		rb, okb := berr.(*RecordError)
		if !oka || !okb {
			return aerr.Error() == berr.Error()
		}
		return ra.ReasonClass == rb.ReasonClass && ra.SourceID == rb.SourceID && sameParts(ra.Reason, rb.Reason) && len(ra.Violations) == len(rb.Violations) &&
			(ra.ReasonClass == hub.ReasonValidation || ra.Field == rb.Field)
	}
	return a.Skip == b.Skip && a.Op == b.Op && a.Entity == b.Entity && a.SchemaVersion == b.SchemaVersion &&
		bytes.Equal(a.Data, b.Data) && strings.Join(a.Warnings, "|") == strings.Join(b.Warnings, "|")
}

func sameParts(a, b string) bool {
	pa, pb := strings.Split(a, "; "), strings.Split(b, "; ")
	if len(pa) != len(pb) {
		return false
	}
	seen := map[string]int{}
	for _, p := range pa {
		seen[p]++
	}
	for _, p := range pb {
		if seen[p]--; seen[p] < 0 {
			return false
		}
	}
	return true
}

func referenceMappings(t testing.TB) []*Mapping {
	var out []*Mapping
	for _, f := range []string{"testdata/bench/customer20.yaml", "testdata/customer_erp/mapping.yaml", "testdata/order_lines/mapping.yaml", "testdata/custom_fields/mapping.yaml"} {
		m, err := LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// refPayloadMutations turn a good payload into near misses: fields
// emptied, retyped or filled with values that break a cleaner or the
// schema.
var refValues = []string{`null`, `""`, `"  "`, `1`, `1.5`, `1e400`, `true`, `[]`, `{}`, `["a@b.de","x"]`, `"n/a"`, `"12"`, `"+49 30 1234567"`,
	`"2024-13-45"`, `"TEST"`, `"X"`, `"Atlantis"`, `"de 1"`, `"\u00e4\u2028"`, `"a\"b"`, `"1,234"`, `"12,50 USD"`, `{"a":[1,{"b":null}]}`}

func mutatePayload(r *rand.Rand, p []byte) []byte {
	rec, err := decodeRecord(p)
	if err != nil {
		return p
	}
	keys := make([]string, 0, len(rec))
	for k := range rec {
		keys = append(keys, k)
	}
	for n := 1 + r.IntN(3); n > 0 && len(keys) > 0; n-- {
		k := keys[r.IntN(len(keys))]
		v, _ := decodeJSON([]byte(refValues[r.IntN(len(refValues))]))
		if r.IntN(5) == 0 {
			delete(rec, k)
		} else {
			rec[k] = v
		}
	}
	b, err := marshal(rec)
	if err != nil {
		return p
	}
	return b
}

// TestApplyMatchesReference: Apply and the reference engine give the same
// output, warnings and errors for each mapping's own inputs and for
// mutations of them.
func TestApplyMatchesReference(t *testing.T) {
	ms := referenceMappings(t)
	own := [][]Input{benchInputs(40)}
	for _, f := range []string{"customer_erp", "order_lines", "custom_fields"} {
		ins, err := ReadInputs("testdata/"+f+"/input.jsonl", "erp", "customers", "")
		if err != nil {
			t.Fatal(err)
		}
		own = append(own, ins)
	}
	r := rand.New(rand.NewPCG(11, 13))
	n, errs := 0, 0
	for mi, m := range ms {
		ins := own[mi]
		for i := 0; i < 400; i++ {
			in := ins[i%len(ins)]
			if i >= len(ins) {
				in.Payload = mutatePayload(r, in.Payload)
			}
			got, gerr := m.Apply(in)
			want, werr := m.applyReference(in)
			if !sameResult(got, gerr, want, werr) {
				t.Fatalf("%s on %s:\n got %+v %v\nwant %+v %v", m.Name(), in.Payload, got, gerr, want, werr)
			}
			n++
			if gerr != nil {
				errs++
			}
		}
	}
	if errs < n/20 || errs > n*19/20 {
		t.Errorf("%d of %d records failed: want both outcomes well represented", errs, n)
	}
	t.Logf("%d records, %d errors", n, errs)
}

func FuzzApplyEquivalence(f *testing.F) {
	for _, p := range goldenPayloads(f) {
		f.Add(p, uint8(0))
	}
	f.Add([]byte(`{"company":"ACME","email":"x","phone":1e400}`), uint8(1))
	ms := referenceMappings(f)
	f.Fuzz(func(t *testing.T, payload []byte, which uint8) {
		m := ms[int(which)%len(ms)]
		in := Input{System: "erp", Entity: "customers", SourceID: "f", Payload: payload}
		got, gerr := m.Apply(in)
		want, werr := m.applyReference(in)
		if !sameResult(got, gerr, want, werr) {
			t.Fatalf("%s on %q:\n got %+v %v\nwant %+v %v", m.Name(), payload, got, gerr, want, werr)
		}
	})
}

// schemasValidateBytes is gojsonschema through its bytes loader, used by
// the benchmark of gojsonschema alone.
func schemasValidateBytes(entity string, b []byte) bool {
	v, err := schemas.Validate(entity, "v1", b)
	return err == nil && len(v) == 0
}

// goldenPayloads are the payloads of the golden cases and the benchmark's
// records: seeds for the fuzzers.
func goldenPayloads(t testing.TB) [][]byte {
	files, _ := filepath.Glob("testdata/*/input.jsonl")
	var out [][]byte
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
		fh.Close()
	}
	for _, in := range benchInputs(8) {
		out = append(out, in.Payload)
	}
	return out
}

// TestFastDecodeGolden: the fast decoder (jsonfast) takes every golden and
// benchmark payload, as decodeRecord decodes it; its other cases are
// tested in its package.
func TestFastDecodeGolden(t *testing.T) {
	var keys jsonfast.Keys
	for _, p := range goldenPayloads(t) {
		got, ok := jsonfast.DecodeObject(p, &keys, nil)
		want, err := decodeRecord(p)
		if !ok || err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: fast %v %#v, decodeRecord %v %#v", p, ok, got, err, want)
		}
	}
}
