package sqlconn

import (
	"encoding/json"
	"testing"
	"time"
)

// TestPositionFastPath: the per-record position built from the page prefix,
// appendPval and the suffix must be byte for byte what position.encode
// gives, and decode back to the same values.
func TestPositionFastPath(t *testing.T) {
	ts := time.Date(2024, 3, 1, 10, 0, 0, 123000, time.FixedZone("", 3600))
	values := []struct {
		v any
		k colKind
	}{
		{int64(-42), kindPlain}, {int64(1 << 62), kindPlain}, {ts, kindTimeNoTZ}, {"a\"b\\c<ä>", kindPlain},
		{[]byte("text"), kindPlain}, {[]byte{0, 1, 255}, kindBinary}, {3.5, kindPlain}, {nil, kindPlain}, {true, kindPlain},
	}
	for _, others := range []map[string]entityPos{
		{},
		{"a": {Key: &pval{T: "int", V: "1"}}, "zz": {Cursor: &pval{T: "str", V: `"customers":{}`}, Key: &pval{T: "str", V: "x"}}},
	} {
		for _, cur := range values {
			for _, key := range values {
				p := position{Entities: map[string]entityPos{}}
				for n, e := range others {
					p.Entities[n] = e
				}
				prefix, suffix := p.encodeAround("customers")
				got := append([]byte(nil), prefix...)
				got = append(got, `"c":`...)
				got = appendPval(got, cur.v, cur.k)
				got = append(got, `,"k":`...)
				got = appendPval(got, key.v, key.k)
				got = append(got, suffix...)
				c, k := toPval(cur.v, cur.k), toPval(key.v, key.k)
				p.Entities["customers"] = entityPos{Cursor: &c, Key: &k}
				want := p.encode()
				if string(got) != string(want) {
					t.Fatalf("fast path\n got %s\nwant %s", got, want)
				}
				// An entity without cursor: only the key.
				nk := append(append(append([]byte(nil), prefix...), `"k":`...), appendPval(nil, key.v, key.k)...)
				nk = append(nk, suffix...)
				p.Entities["customers"] = entityPos{Key: &k}
				if want := p.encode(); string(nk) != string(want) {
					t.Fatalf("key only\n got %s\nwant %s", nk, want)
				}
				var back position
				if err := json.Unmarshal(got, &back); err != nil || *back.Entities["customers"].Key != k {
					t.Fatalf("decode %s: %v", got, err)
				}
			}
		}
	}
}
