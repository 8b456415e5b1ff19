package mapping

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// exprGen writes random expressions from the shapes the direct path takes
// (and a few it does not), driven by a seeded source so that a failure
// can be replayed.
type exprGen struct {
	r *rand.Rand
}

var (
	genFields = []string{"name", "email", "tel", "kind", "amount", "flag", "nested", "nested.city", "record.name", "country"}
	genConsts = []string{`"P"`, `""`, `" x "`, `1`, `nil`, `true`, `"DE"`, `1.5`}
	genCalls1 = []string{"trim", "lower", "upper", "title", "collapse", "email", "nospace", "country", "given_name", "phone", "decimal", "money", "bool"}
)

func (g *exprGen) expr(depth int) string {
	if depth <= 0 {
		return g.leaf()
	}
	switch g.r.IntN(12) {
	case 0, 1:
		return g.leaf()
	case 2, 3:
		return genCalls1[g.r.IntN(len(genCalls1))] + "(" + g.expr(depth-1) + ")"
	case 4:
		return "coalesce(" + g.expr(depth-1) + ", " + g.expr(depth-1) + ")"
	case 5:
		return `phone(` + g.expr(depth-1) + `, coalesce(country(` + g.expr(depth-1) + `), "DE"))`
	case 6:
		return `join(" ", ` + g.expr(depth-1) + `, ` + g.expr(depth-1) + `)`
	case 7:
		return `lookup("kind", ` + g.expr(depth-1) + `, "other")`
	case 8:
		return "(" + g.cond(depth-1) + " ? " + g.expr(depth-1) + " : " + g.expr(depth-1) + ")"
	case 9:
		return "(" + g.expr(depth-1) + " ?? " + g.expr(depth-1) + ")"
	case 10:
		return `money(` + g.expr(depth-1) + `, coalesce(` + g.expr(depth-1) + `, "EUR"))`
	default:
		return "(" + g.cond(depth-1) + ")"
	}
}

func (g *exprGen) cond(depth int) string {
	switch g.r.IntN(9) {
	case 0:
		return g.expr(depth) + " == " + g.expr(depth)
	case 1:
		return g.expr(depth) + " != " + g.expr(depth)
	case 2:
		return "!(" + g.cond(depth-1) + ")"
	case 3:
		return "(" + g.cond(depth-1) + " && " + g.cond(depth-1) + ")"
	case 4:
		return "(" + g.cond(depth-1) + " || " + g.cond(depth-1) + ")"
	case 5:
		return g.expr(depth) + ` matches "^[A-Z]"`
	case 6:
		return "len(" + g.expr(depth) + ") > 0"
	case 7:
		return g.expr(depth) // not always a bool: the VM's type assertion fails, so must the direct path's
	default:
		return `kind == "P"`
	}
}

func (g *exprGen) leaf() string {
	if g.r.IntN(3) == 0 {
		return genConsts[g.r.IntN(len(genConsts))]
	}
	return genFields[g.r.IntN(len(genFields))]
}

// genRecord is a record whose fields hold values of every JSON type,
// the strings among them close to what the functions parse.
func genRecord(r *rand.Rand) map[string]any {
	vals := []any{nil, "", "  ", "P", "F", "Anna  Schmidt", "030 1234567", "+49 171 2345678", " A@B.DE ", "DE", "Deutschland",
		"1.234,50", "\xff", 42, 1.5, true, false, map[string]any{"city": " Köln "}, []any{"x", 1.0}, []any{}}
	rec := map[string]any{}
	for _, k := range []string{"name", "email", "tel", "kind", "amount", "flag", "nested", "country"} {
		if r.IntN(8) == 0 {
			continue // missing
		}
		rec[k] = vals[r.IntN(len(vals))]
	}
	return rec
}

// checkGenerated compiles n expressions generated from seed, one mapping
// each, and compares the direct path with the VM on generated records.
// It returns how many took the direct path.
func checkGenerated(t *testing.T, seed uint64, n, records int) (direct, compiled int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &exprGen{r: r}
	in := Input{SourceID: "1", System: "erp", Entity: "customers"}
	for i := 0; i < n; i++ {
		src := g.expr(1 + r.IntN(4))
		if strings.Contains(src, "'") {
			continue
		}
		y := "mapping: gen\nversion: 1\nsource: {system: erp, entity: customers}\ntarget: {entity: customer}\n" +
			"tables: {kind: {P: person, F: organization}}\nfields:\n  custom.x: '" + src + "'\n"
		m, err := Parse("gen.yaml", []byte(y))
		if err != nil {
			continue // a type error expr finds at compile time
		}
		compiled++
		if m.fields[0].expr.fast != nil {
			direct++
		}
		for j := 0; j < records; j++ {
			compareFast(t, m, in, genRecord(r))
		}
	}
	return direct, compiled
}

// TestFastProgramsGenerated: random nested calls, conditions, ==, !=,
// ??, &&, ||, !, matches and len() give the same value, error and drops
// directly as on the VM.
func TestFastProgramsGenerated(t *testing.T) {
	direct, compiled := checkGenerated(t, 1, 3000, 20)
	t.Logf("%d of %d compiled expressions direct", direct, compiled)
	if compiled < 1000 || direct < compiled*3/4 {
		t.Fatalf("%d of %d compiled expressions direct: the generator or the direct path regressed", direct, compiled)
	}
}

// FuzzFastProgramsGenerated: the same on expressions and records from any
// seed.
func FuzzFastProgramsGenerated(f *testing.F) {
	for _, s := range []uint64{2, 3, 5} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		checkGenerated(t, seed, 20, 10)
	})
}

// TestFastProgramsPipelineMapping: every field of `crmhub bench
// pipeline`'s mapping takes the direct path.
func TestFastProgramsPipelineMapping(t *testing.T) {
	m, err := LoadFile("testdata/bench/pipeline19.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.fields {
		if f.expr.fast == nil {
			t.Errorf("%s (%s) runs on the VM", f.target, f.expr.src)
		}
	}
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 500; i++ {
		rec := pipelineRecord(i)
		for _, mr := range mutations(rec)[:1+r.IntN(20)] {
			compareFast(t, m, Input{SourceID: fmt.Sprint(i), System: "bench", Entity: "customers"}, mr)
		}
	}
}

// pipelineRecord is row i of the bench pipeline's table (cmd/crmhub's
// benchCustomerTable), as the sql connector delivers it.
func pipelineRecord(i int) map[string]any {
	rec := map[string]any{
		"id": i, "kind": "P", "company": nil, "first_name": []string{"anna", "bernd", "clara", "dieter"}[i%4],
		"last_name": []string{"müller", "schmidt", "schneider", "fischer"}[(i/16)%4],
		"email":     fmt.Sprintf("kunde%d@example%d.de", i, i%97), "phone": fmt.Sprintf("030 %d", 2000000+(i*7919)%7000000), "mobile": nil,
		"street": fmt.Sprintf("Hauptstraße %d", 1+i%200), "zip": fmt.Sprintf("%05d", (i*37)%99999),
		"city": []string{"berlin", "münchen", "frankfurt am main"}[i%3], "country": []string{"DE", "Deutschland", "de", "Germany", "AT", "CH"}[i%6],
		"birth_date": "1980-02-03", "language": []string{"de", "en", "DE"}[i%3], "status": []string{"A", "I"}[min(i%10, 1)],
		"credit_limit": fmt.Sprintf("%d.%02d", (i%1000)*100, i%100), "currency": nil,
		"created_at": "2015-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00+01:00",
	}
	if i%5 == 0 {
		rec["kind"], rec["company"] = "F", fmt.Sprintf("Firma  %d   GmbH", i)
	}
	if i%3 == 0 {
		rec["mobile"] = fmt.Sprintf("0171 %d", 1000000+(i*104729)%8000000)
	}
	if i%4 != 0 {
		rec["currency"] = "EUR"
	}
	return rec
}

// BenchmarkApplyPipeline: the mapping of `crmhub bench pipeline` (19
// fields, validated) on rows shaped like its table, every phone number
// distinct (go test ./mapping -run XXX -bench ApplyPipeline -cpu 1
// -benchmem): the engine's share of that command's CPU per row.
func BenchmarkApplyPipeline(b *testing.B) {
	m, err := LoadFile("testdata/bench/pipeline19.yaml")
	if err != nil {
		b.Fatal(err)
	}
	ins := make([]Input, 4096)
	for i := range ins {
		rec := pipelineRecord(100000 + i)
		payload, err := json.Marshal(rec)
		if err != nil {
			b.Fatal(err)
		}
		ins[i] = Input{System: "bench", Entity: "customers", SourceID: fmt.Sprint(i), Payload: payload}
		if _, err := m.Apply(ins[i]); err != nil {
			b.Fatalf("record %d: %v", i, err)
		}
	}
	// "env": as if a program needed the env map (the record copied into
	// it), to show what reading the record directly saves.
	for _, env := range []bool{false, true} {
		name := "direct"
		if env {
			name = "env"
		}
		b.Run(name, func(b *testing.B) {
			m.needsEnv = env
			b.ReportAllocs()
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				if _, err := m.Apply(ins[i%len(ins)]); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, cpu0)
		})
	}
}
