package jsonfast

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unsafe"
)

// jsonCases are payloads that probe where the fast decoder must agree with
// encoding/json or give up: escapes, invalid UTF-8, number forms, repeated
// keys, trailing data, deep nesting.
var jsonCases = []string{
	`{}`, ` {"a":1} `, `{"a":1,"a":2}`, `{"a":"x\"y","b":"\u00fc\ud83d\ude00","c":"\ud800x"}`,
	`{"n":[0,-0,1.0,1e2,1E+2,-1.5e-7,9223372036854775807,9223372036854775808,1e400,-1e400,0.1]}`,
	`{"s":"` + "\xff\xfe" + `ok","t":"é","u":"\u2028"}`, `{"ctl":"a` + "\x01" + `"}`, `{"a":tru}`, `{"a":nul}`, `{"a":01}`,
	`{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":[1,2,]}`, `{"a":1,}`, `{"a" 1}`, `{"a":1} x`, `{"a":1}}`, `{"a":1}]`,
	`[1]`, `"x"`, `{"a":{"b":{"c":[{"d":null,"e":true,"f":false}]}}}`, `{"emoji":"😀","nbsp":"a b"}`,
	`{"a":"\/\b\f\n\r\t\\"}`, "{\"a\":1}\n", `{"a":"` + "\x7f" + `"}`, `{"k` + "\xc3" + `":1}`, `{"a":[]}`, `{"a":{}}`,
	`{"a":"<b>&amp;</b>"}`, `{"a":123456789012345678901234567890}`, `{"big":1.7976931348623157e308,"tiny":5e-324}`,
}

func goldenPayloads(t testing.TB) [][]byte {
	files, _ := filepath.Glob("../../testdata/*/input.jsonl")
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) > 0 {
				out = append(out, line)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no golden payloads under mapping/testdata")
	}
	return out
}

var (
	testKeys   Keys
	testInto   = map[string]any{}
	testOrders KeyOrders
)

// decodeRecord is what the engine does with a payload: Decode, and an
// object or an error.
func decodeRecord(b []byte) (map[string]any, error) {
	v, err := Decode(b)
	if err != nil {
		return nil, err
	}
	rec, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("payload is not a JSON object")
	}
	return rec, nil
}

// checkFastJSON: whenever the fast decoder answers, its value is the one
// decodeRecord gives; whenever the fast encoder answers, its bytes are
// Marshal's.
func checkFastJSON(t *testing.T, payload []byte) (fastDecoded bool) {
	t.Helper()
	fast, ok := decodeObjectFast(payload)
	want, err := decodeRecord(payload)
	if ok {
		if err != nil {
			t.Fatalf("fast decoder accepted %q, encoding/json says %v", payload, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("decode %q:\nfast %#v\nstd  %#v", payload, fast, want)
		}
	}
	// Through a key table (shared across calls, as in Apply): the same
	// answer and value.
	interned, iok := DecodeObject(payload, &testKeys, nil)
	if iok != ok || !reflect.DeepEqual(interned, fast) {
		t.Fatalf("decode %q with interned keys: %v %#v, without %v %#v", payload, iok, interned, ok, fast)
	}
	// Into a reused map, as Apply does: the same answer and value.
	clear(testInto)
	into, intoOK := DecodeObject(payload, &testKeys, testInto)
	if intoOK != ok || ok && !reflect.DeepEqual(into, fast) {
		t.Fatalf("decode %q into a reused map: %v %#v, fresh %v %#v", payload, intoOK, into, ok, fast)
	}
	if err != nil {
		return ok
	}
	wantB, merr := Marshal(want)
	gotB, eok := appendJSON(nil, want)
	if eok && (merr != nil || !bytes.Equal(gotB, wantB)) {
		t.Fatalf("encode %q:\nfast %s\nstd  %s (%v)", payload, gotB, wantB, merr)
	}
	// With remembered key orders shared across calls, as in Apply.
	ob, _, ook := Append(nil, want, &testOrders)
	if ook != eok || ook && !bytes.Equal(ob, gotB) {
		t.Fatalf("encode %q with remembered key orders:\n%s\nwithout\n%s", payload, ob, gotB)
	}
	if !eok && merr == nil && !hasNonFinite(want) {
		t.Fatalf("fast encoder gave up on %q, which encoding/json encodes", payload)
	}
	return ok
}

func hasNonFinite(v any) bool {
	switch x := v.(type) {
	case float64:
		return math.IsInf(x, 0) || math.IsNaN(x)
	case map[string]any:
		for _, e := range x {
			if hasNonFinite(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasNonFinite(e) {
				return true
			}
		}
	}
	return false
}

func TestFastJSONEquivalence(t *testing.T) {
	fastCount := 0
	for _, c := range jsonCases {
		if checkFastJSON(t, []byte(c)) {
			fastCount++
		}
	}
	for _, p := range goldenPayloads(t) {
		if !checkFastJSON(t, p) {
			t.Errorf("fast decoder gave up on a golden payload %s", p)
		}
	}
	if fastCount < len(jsonCases)/3 {
		t.Errorf("fast decoder handled only %d of %d cases", fastCount, len(jsonCases))
	}
	// Values the engine builds but JSON never decodes to.
	for _, v := range []any{
		map[string]any{"a": int64(-3), "b": nil, "c": []any(nil), "d": map[string]any(nil), "e": 1e21, "f": 1e-7, "g": -0.0, "h": 123456.789},
		map[string]any{"ctl": "\x00\x1f\u2029<>&", "bad": "a\xffb"},
	} {
		got, ok := appendJSON(nil, v)
		want, err := Marshal(v)
		if !ok || err != nil || !bytes.Equal(got, want) {
			t.Errorf("encode %#v:\nfast %s (%v)\nstd  %s (%v)", v, got, ok, want, err)
		}
	}
	if _, ok := appendJSON(nil, map[string]any{"x": math.NaN()}); ok {
		t.Error("NaN must go to encoding/json for its error")
	}
	if _, ok := appendJSON(nil, map[string]any{"x": []string{"a"}}); ok {
		t.Error("a Go type the fast encoder does not know must go to encoding/json")
	}
}

func FuzzFastJSON(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	for _, p := range goldenPayloads(f) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkFastJSON(t, payload)
	})
}

// TestKeyInternBounded: the key table stops growing at maxInternKeys and
// still answers every key.
func TestKeyInternBounded(t *testing.T) {
	var k Keys
	for i := 0; i < 3*maxInternKeys; i++ {
		name := fmt.Sprintf("field%d", i)
		if got := k.get([]byte(name)); got.name != name {
			t.Fatalf("get(%q) = %q", name, got.name)
		}
	}
	if len(k.m) != maxInternKeys {
		t.Fatalf("%d keys held, want %d", len(k.m), maxInternKeys)
	}
	a, b := k.get([]byte("field1")), k.get([]byte("field1"))
	if unsafe.StringData(a.name) != unsafe.StringData(b.name) {
		t.Error("a held key is not shared")
	}
}

// TestKeyInternValues: records decoded through one table equal
// decodeRecord's; a repeating value is shared, a column of distinct
// values stops being cached, and the cache stays within its bounds.
func TestKeyInternValues(t *testing.T) {
	var k Keys
	var first, last map[string]any
	for i := 0; i < 5000; i++ {
		payload := []byte(fmt.Sprintf(`{"status":"A","country":%q,"id":"%d","long":"%040d","esc":"a\u00e9","uni":"ü%d","n":%d,"nested":{"x":"A"}}`,
			[]string{"DE", "AT", "CH"}[i%3], i, i%5, i%2, i))
		got, ok := DecodeObject(payload, &k, nil)
		want, err := decodeRecord(payload)
		if !ok || err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %v %#v, decodeRecord %v %#v", payload, ok, got, err, want)
		}
		if i == 0 {
			first = got
		}
		last = got
	}
	if unsafe.StringData(first["status"].(string)) != unsafe.StringData(last["status"].(string)) {
		t.Error("a repeating value is not shared")
	}
	if id := k.m["id"]; !id.off || id.vals != nil {
		t.Errorf("a column of distinct values is still cached (%d hits, %d misses)", id.hits, id.misses)
	}
	if long := k.m["long"]; len(long.vals) != 0 {
		t.Errorf("%d values longer than %d bytes cached", len(long.vals), maxCachedValueLen)
	}
	n := 0
	for _, ki := range k.m {
		n += len(ki.vals)
	}
	if n != k.values || n > maxCachedValues {
		t.Errorf("%d values held, counted %d (bound %d)", n, k.values, maxCachedValues)
	}
	// Many keys each with repeating values: the total stays bounded.
	for i := 0; i < 20000; i++ {
		k.value(k.get([]byte(fmt.Sprintf("k%d", i%400))), []byte(fmt.Sprint(i%7)))
	}
	if k.values > maxCachedValues {
		t.Errorf("%d values held, bound %d", k.values, maxCachedValues)
	}
}

// TestKeyOrders: objects with the same number of keys but other keys, the
// same keys in another map, and more shapes than are remembered, all
// encode as Marshal does.
func TestKeyOrders(t *testing.T) {
	var o KeyOrders
	docs := []map[string]any{
		{"a": 1, "b": 2, "c": 3, "d": 4},
		{"a": 1, "b": 2, "c": 3, "e": 4},
		{"d": "x", "c": "y", "b": "z", "a": "w"},
		{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5},
	}
	for i := 0; i < 40; i++ {
		docs = append(docs, map[string]any{fmt.Sprint("k", i): 1, "b": 2, "c": 3, "d": 4, "nested": map[string]any{"z": 1, "y": 2, "x": 3, fmt.Sprint(i): 4}})
	}
	for round := 0; round < 2; round++ {
		for _, d := range docs {
			want, err := Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			e := jsonEnc{orders: &o}
			if !e.value(d) || !bytes.Equal(e.b, want) {
				t.Fatalf("%v: %s, Marshal %s", d, e.b, want)
			}
		}
	}
	if len(o.lists) > maxKeyOrders {
		t.Fatalf("%d key orders held, bound %d", len(o.lists), maxKeyOrders)
	}
}
