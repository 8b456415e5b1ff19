package file

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// errIncomplete means a quoted CSV field runs on to the next line.
var errIncomplete = errors.New("quoted field not closed")

// splitCSV splits one logical CSV record. Quoted fields may contain the
// delimiter, doubled quotes and line breaks.
func splitCSV(s string, delim, quote rune, out []string) ([]string, error) {
	out = out[:0]
	for {
		if len(s) > 0 && rune(s[0]) == quote && quote < utf8.RuneSelf {
			// Quoted field.
			var b strings.Builder
			i := 1
			for {
				j := strings.IndexRune(s[i:], quote)
				if j < 0 {
					return out, errIncomplete
				}
				b.WriteString(s[i : i+j])
				i += j + utf8.RuneLen(quote)
				if i < len(s) && rune(s[i]) == quote {
					b.WriteRune(quote)
					i++
					continue
				}
				break
			}
			out = append(out, b.String())
			s = s[i:]
			if s == "" {
				return out, nil
			}
			r, size := utf8.DecodeRuneInString(s)
			if r != delim {
				return out, fmt.Errorf("unexpected %q after closing quote", r)
			}
			s = s[size:]
			continue
		}
		j := strings.IndexRune(s, delim)
		if j < 0 {
			return append(out, s), nil
		}
		out = append(out, s[:j])
		s = s[j+utf8.RuneLen(delim):]
	}
}

// appendString appends s as a JSON string; plain ASCII takes a fast path.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// objectPayload renders names/values as a JSON object.
func objectPayload(names [][]byte, vals []string) []byte {
	n := 2
	for i := range vals {
		n += len(names[i]) + len(vals[i]) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, names[i]...)
		b = append(b, ':')
		b = appendString(b, v)
	}
	return append(b, '}')
}

func rawPayload(raw []byte) []byte {
	b := make([]byte, 0, base64.StdEncoding.EncodedLen(len(raw))+10)
	b = append(b, `{"raw":"`...)
	b = base64.StdEncoding.AppendEncode(b, raw)
	return append(b, `"}`...)
}

// jsonField returns a top-level field of a JSON object as text, for the key
// and updated_at of JSON lines.
func jsonField(obj map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := obj[name]
	if !ok {
		return "", false
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, true
		}
	}
	if string(raw) == "null" {
		return "", false
	}
	return string(raw), true
}

// position is the Position of this connector.
type position struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func (p position) encode() []byte {
	b := make([]byte, 0, len(p.File)+32)
	b = append(b, `{"file":`...)
	b = appendString(b, p.File)
	b = append(b, `,"line":`...)
	b = strconv.AppendInt(b, int64(p.Line), 10)
	return append(b, '}')
}
