package hub

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

func sampleEnvelope() *Envelope {
	e := &Envelope{System: "erp", SourceEntity: "customers", SourceID: "4711",
		SourceUpdatedAt: time.Date(2024, 3, 1, 12, 30, 0, 123456000, time.UTC),
		Entity:          EntityCustomer, SchemaVersion: SchemaVersion, Op: OpUpsert, Mapping: "erp_customers", MappingVersion: 3,
		Connector: "erp", ReadAt: time.Date(2026, 12, 5, 17, 0, 0, 0, time.UTC),
		Data: json.RawMessage(`{"addresses":[{"city":"Düsseldorf","street":"Hauptstraße 7"}],"emails":["a@b.de"],"kind":"person","phones":["+49302047514"],"x":{"n":1.5e3,"t":true,"z":null}}`)}
	e.ComputeEventID()
	return e
}

// TestEnvelopeAppendJSONMatchesMarshal holds the fast encoder to
// json.Marshal byte for byte, on plain envelopes and on everything the
// fast path hands over (escapes, whitespace, odd times).
func TestEnvelopeAppendJSONMatchesMarshal(t *testing.T) {
	tests := []struct {
		name string
		edit func(e *Envelope)
	}{
		{"plain", func(e *Envelope) {}},
		{"delete without data", func(e *Envelope) { e.Op, e.Data = OpDelete, nil }},
		{"zero times", func(e *Envelope) { e.SourceUpdatedAt, e.ReadAt = time.Time{}, time.Time{} }},
		{"time with zone", func(e *Envelope) { e.SourceUpdatedAt = time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)) }},
		{"year beyond 9999", func(e *Envelope) { e.ReadAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"negative year", func(e *Envelope) { e.ReadAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"id with quote", func(e *Envelope) { e.SourceID = `a"b` }},
		{"id with html", func(e *Envelope) { e.SourceID = "<a&b>" }},
		{"id with control", func(e *Envelope) { e.SourceID = "a\tb\x01" }},
		{"id with invalid utf-8", func(e *Envelope) { e.SourceID = "a\xffb" }},
		{"id with line separator", func(e *Envelope) { e.SourceID = "a\u2028b" }},
		{"id non-ascii", func(e *Envelope) { e.SourceID = "Müller-ß-😀" }},
		{"connector with backslash", func(e *Envelope) { e.Connector = `a\b` }},
		{"data with spaces", func(e *Envelope) { e.Data = json.RawMessage(`{"a": 1, "b" :[1, 2]}`) }},
		{"data with newline", func(e *Envelope) { e.Data = json.RawMessage("{\"a\":1\n}") }},
		{"data with html", func(e *Envelope) { e.Data = json.RawMessage(`{"a":"<b>&"}`) }},
		{"data with escaped quote", func(e *Envelope) { e.Data = json.RawMessage(`{"a":"x\"} ","b":"\\"}`) }},
		{"data with line separator", func(e *Envelope) { e.Data = json.RawMessage("{\"a\":\"x\u2028y\"}") }},
		{"data null", func(e *Envelope) { e.Data = json.RawMessage(`null`) }},
		{"data invalid", func(e *Envelope) { e.Data = json.RawMessage(`{"a":`) }},
		{"data unbalanced", func(e *Envelope) { e.Data = json.RawMessage(`{"a":1}}`) }},
		{"data invalid utf-8", func(e *Envelope) { e.Data = json.RawMessage("{\"a\":\"\xff\"}") }},
		{"negative mapping version", func(e *Envelope) { e.MappingVersion = -2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sampleEnvelope()
			tt.edit(e)
			want, wantErr := json.Marshal(e)
			got, err := e.AppendJSON([]byte("prefix"))
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, json.Marshal's %v", err, wantErr)
			}
			if err == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("got  %s\nwant prefix%s", got, want)
			}
			if !encoderWrote(e.Data) {
				return // AppendJSONEncoded promises nothing for such Data
			}
			got, err = e.AppendJSONEncoded([]byte("prefix"))
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("AppendJSONEncoded: error %v, json.Marshal's %v", err, wantErr)
			}
			if err == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("AppendJSONEncoded: got  %s\nwant prefix%s", got, want)
			}
		})
	}
}

// TestEnvelopeAppendJSONRandom compares both encoders on random strings
// drawn from the characters that need care.
func TestEnvelopeAppendJSONRandom(t *testing.T) {
	alphabet := []string{"a", "Z", "0", " ", "\"", "\\", "<", ">", "&", "\n", "\x00", "\x7f", "é", "\u2028", "\u2029", "😀", "\xff", "{", "}", "[", "]", ":", ","}
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		var b []byte
		for range rng.IntN(8) {
			b = append(b, alphabet[rng.IntN(len(alphabet))]...)
		}
		return string(b)
	}
	for i := range 5000 {
		e := sampleEnvelope()
		e.SourceID, e.Connector, e.Mapping = str(), str(), str()
		if i%2 == 0 {
			// written as the mapping engine writes: no HTML escaping
			var w bytes.Buffer
			enc := json.NewEncoder(&w)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(map[string]any{str(): str(), "n": []any{str(), 1, nil}}); err != nil {
				t.Fatal(err)
			}
			e.Data = bytes.TrimSuffix(w.Bytes(), []byte("\n"))
		}
		want, wantErr := json.Marshal(e)
		got, err := e.AppendJSON(nil)
		if (err != nil) != (wantErr != nil) || err == nil && !bytes.Equal(got, want) {
			t.Fatalf("envelope %+v:\ngot  %s (%v)\nwant %s (%v)", e, got, err, want, wantErr)
		}
		got, err = e.AppendJSONEncoded(nil)
		if (err != nil) != (wantErr != nil) || err == nil && !bytes.Equal(got, want) {
			t.Fatalf("AppendJSONEncoded, envelope %+v:\ngot  %s (%v)\nwant %s (%v)", e, got, err, want, wantErr)
		}
	}
}

// encoderWrote reports whether d is what a JSON encoder could have
// written: valid and compact.
func encoderWrote(d []byte) bool {
	if len(d) == 0 {
		return true
	}
	var c bytes.Buffer
	return json.Valid(d) && json.Compact(&c, d) == nil && bytes.Equal(c.Bytes(), d)
}

func BenchmarkEnvelopeEncode(b *testing.B) {
	e := sampleEnvelope()
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.AppendJSON(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSONEncoded", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.AppendJSONEncoded(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
