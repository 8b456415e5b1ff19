package hub

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends e as JSON, byte for byte what json.Marshal(e) writes,
// without reflection: a connector encodes every record it publishes, and
// json.Marshal spent most of its time walking the struct and re-compacting
// Data. Whatever the fast path cannot vouch for (a string that needs
// escaping, Data with whitespace or characters encoding/json escapes, a
// time json.Marshal refuses) goes through json.Marshal itself.
func (e *Envelope) AppendJSON(b []byte) ([]byte, error) {
	if !plainData(e.Data) {
		return e.appendSlow(b)
	}
	return e.appendFast(b)
}

// AppendJSONEncoded is AppendJSON for an envelope whose Data a JSON
// encoder wrote (the mapping engine's, or encoding/json's): compact and
// balanced by construction, so only the bytes json.Marshal would escape
// are looked for, with a few vectorised scans instead of AppendJSON's walk
// through Data's strings, which was a twentieth of a connector's CPU.
// Data that is not such output must go through AppendJSON.
func (e *Envelope) AppendJSONEncoded(b []byte) ([]byte, error) {
	if !encodedPlain(e.Data) {
		return e.AppendJSON(b)
	}
	return e.appendFast(b)
}

// encodedPlain reports whether json.Marshal would copy d, written by a JSON
// encoder, as it is: no '<', '>' or '&' (HTML escaping), no U+2028 or
// U+2029 unescaped, valid UTF-8.
func encodedPlain(d []byte) bool {
	if bytes.IndexByte(d, '<') >= 0 || bytes.IndexByte(d, '>') >= 0 || bytes.IndexByte(d, '&') >= 0 {
		return false
	}
	if bytes.IndexByte(d, 0xE2) >= 0 && (bytes.Contains(d, []byte("\u2028")) || bytes.Contains(d, []byte("\u2029"))) {
		return false
	}
	return utf8.Valid(d)
}

// appendFast writes e once its Data is known to need no compacting.
func (e *Envelope) appendFast(b []byte) ([]byte, error) {
	if !plainTime(e.SourceUpdatedAt) || !plainTime(e.ReadAt) {
		return e.appendSlow(b)
	}
	if cap(b)-len(b) < 300+len(e.Data) {
		b = append(make([]byte, 0, len(b)+300+len(e.Data)), b...)
	}
	start := len(b)
	var ok bool
	b = append(b, `{"event_id":`...)
	if b, ok = appendPlainString(b, e.EventID); !ok {
		return e.appendSlow(b[:start])
	}
	for _, f := range [...]struct {
		name string
		v    *string
	}{{`,"source_system":`, &e.System}, {`,"source_entity":`, &e.SourceEntity}, {`,"source_id":`, &e.SourceID}} {
		b = append(b, f.name...)
		if b, ok = appendPlainString(b, *f.v); !ok {
			return e.appendSlow(b[:start])
		}
	}
	if !e.SourceUpdatedAt.IsZero() {
		b = append(b, `,"source_updated_at":"`...)
		b = e.SourceUpdatedAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	for _, f := range [...]struct {
		name string
		v    *string
	}{{`,"entity":`, &e.Entity}, {`,"schema_version":`, &e.SchemaVersion}, {`,"op":`, &e.Op}, {`,"mapping":`, &e.Mapping}} {
		b = append(b, f.name...)
		if b, ok = appendPlainString(b, *f.v); !ok {
			return e.appendSlow(b[:start])
		}
	}
	b = append(b, `,"mapping_version":`...)
	b = strconv.AppendInt(b, int64(e.MappingVersion), 10)
	b = append(b, `,"connector":`...)
	if b, ok = appendPlainString(b, e.Connector); !ok {
		return e.appendSlow(b[:start])
	}
	if !e.ReadAt.IsZero() {
		b = append(b, `,"read_at":"`...)
		b = e.ReadAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if len(e.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, e.Data...)
	}
	return append(b, '}'), nil
}

func (e *Envelope) appendSlow(b []byte) ([]byte, error) {
	j, err := json.Marshal(e)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
}

// appendPlainString appends s quoted when encoding/json would write it
// unchanged: printable ASCII other than '"', '\\', '<', '>' and '&', or
// UTF-8 other than U+2028 and U+2029.
func appendPlainString(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return b, false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == '\u2028' || r == '\u2029' {
			return b, false
		}
		i += n
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// plainTime reports whether time.Time's MarshalJSON would accept t (it
// refuses years outside 0-9999).
func plainTime(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y <= 9999
}

// plainData reports whether json.Marshal would copy d as it is: d is
// compact (no whitespace outside strings) and holds nothing encoding/json
// escapes when it compacts a RawMessage ('<', '>', '&', U+2028, U+2029).
// It does not prove d valid JSON: the mapping engine writes Data, always
// valid; a truncated value would still fail json.Marshal, so d's brackets
// and quotes are balanced here too.
func plainData(d []byte) bool {
	inStr, esc := false, false
	depth := 0
	for i := 0; i < len(d); i++ {
		c := d[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			case c < 0x20:
				return false
			}
		} else {
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth < 0 {
					return false
				}
			case ' ', '\t', '\n', '\r':
				return false
			}
		}
		switch c {
		case '<', '>', '&':
			return false
		case 0xE2: // U+2028 and U+2029 are E2 80 A8 and E2 80 A9
			if i+2 < len(d) && d[i+1] == 0x80 && (d[i+2] == 0xA8 || d[i+2] == 0xA9) {
				return false
			}
		}
	}
	return !inStr && depth == 0 && (len(d) == 0 || utf8.Valid(d))
}
