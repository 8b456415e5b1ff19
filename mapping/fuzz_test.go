package mapping

import (
	"os"
	"strings"
	"testing"
)

// FuzzLoad: no YAML text makes the loader panic; it loads or says why.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"testdata/customer_erp/mapping.yaml", "testdata/order_lines/mapping.yaml", "testdata/load_errors/mapping.yaml", "testdata/custom_fields/mapping.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("mapping: [\n"))
	f.Add([]byte("fields: {a[: x}\n"))
	f.Add([]byte("- 1\n- 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("fuzz.yaml", data)
		if err == nil && m == nil {
			t.Fatal("nil mapping without error")
		}
		if err == nil {
			_, _ = m.Apply(Input{SourceID: "f", Payload: []byte(`{"name":"x","id":1}`)})
		}
	})
}

// FuzzExpr: any expression as a field compiles or fails with a load error,
// and running it on a record never panics.
func FuzzExpr(f *testing.F) {
	for _, fn := range Functions() {
		for _, ex := range fn.Examples {
			f.Add(ex.Expr, `{"a":"x","n":1.5,"l":[1,"b"]}`)
		}
	}
	f.Add(`map_lines(l, {"x": #`, `{}`)
	f.Add(`a[`, `{"a":[]}`)
	f.Add(`phone(a, a)`, `{"a":"+49 30 1"}`)
	f.Fuzz(func(t *testing.T, src, payload string) {
		if strings.ContainsAny(src, "\n\r'") || len(src) > 300 {
			return // one single-quoted YAML line
		}
		y := "mapping: f\nversion: 1\nsource: {system: s, entity: e}\ntarget: {entity: customer}\n" +
			"tables: {status: {A: active}}\nfields:\n  kind: '\"person\"'\n  full_name: '" + src + "'\n"
		m, err := Parse("f.yaml", []byte(y))
		if err != nil {
			return
		}
		_, _ = m.Apply(Input{SourceID: "f", Payload: []byte(payload)})
	})
}
