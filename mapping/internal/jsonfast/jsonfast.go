package jsonfast

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The engine decodes one payload and encodes one document per record, and
// encoding/json's reflection was a fifth of the engine's time. The fast
// paths below handle the common, well-formed case; whenever they meet
// something they are not sure to treat exactly as encoding/json does
// (escapes, invalid UTF-8, odd Go types, NaN, bad syntax) they give up and
// the caller runs encoding/json, which then decides the value or the error
// message. TestFastJSONEquivalence and FuzzFastJSON hold them to that.

// maxFastDepth bounds the recursion of the fast decoder; deeper documents
// go to encoding/json, which has its own limit and message.
const maxFastDepth = 256

// decodeObjectFast decodes a payload that is one JSON object followed only
// by white space into what Decode returns. ok is false when the caller
// must use Decode instead.
func decodeObjectFast(b []byte) (rec map[string]any, ok bool) {
	return DecodeObject(b, nil, nil)
}

// DecodeObject is decodeObjectFast taking the top-level keys from
// keys (nil: a new string each): a source sends the same field names in
// every record, and a string per name and record was a sixth of the
// engine's allocations. into, when not nil, is an empty map the record is
// decoded into (reused by the caller); on failure it may hold some fields.
// ok is false when the caller must use Decode, which decides the value or
// the error.
func DecodeObject(b []byte, keys *Keys, into map[string]any) (rec map[string]any, ok bool) {
	d := fastDec{b: b, keys: keys, top: into}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, false
	}
	if into == nil {
		// Size the record's map for its fields at once (each ':' outside
		// a string is a key; inside strings they only make the hint
		// generous).
		d.hint = min(bytes.Count(b, []byte{':'}), 64)
	}
	v, ok := d.value(0)
	if !ok {
		return nil, false
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, false
	}
	rec, ok = v.(map[string]any)
	return rec, ok
}

type fastDec struct {
	b    []byte
	i    int
	hint int            // size of the top-level map
	keys *Keys          // top-level keys, nil: none
	top  map[string]any // the top-level map to fill, nil: a new one
}

// Keys hands out one string per distinct key, and per key the
// string values seen under it, already boxed: most columns of a source
// repeat a few values (a status, a country, a currency), and a string
// and its interface box were the decoder's two allocations per value.
// A key whose values rarely repeat stops being cached after a while. It
// is not safe for concurrent use (each applyState has its own) and is
// bounded: maxInternKeys keys, maxCachedValues values of at most
// maxCachedValueLen bytes in all.
type Keys struct {
	m      map[string]*keyInfo
	values int // values held, over all keys
}

type keyInfo struct {
	name         string
	vals         map[string]any // boxed values by text
	hits, misses int
	off          bool // values do not repeat enough: not looked up
}

const (
	maxInternKeys     = 512
	maxCachedValues   = 2048
	maxCachedValueLen = 32
	// a key's cache is turned off after this many misses when it had
	// fewer hits than misses
	cacheTrialMisses = 256
)

func (k *Keys) get(raw []byte) *keyInfo {
	if ki, ok := k.m[string(raw)]; ok { // no allocation for the lookup
		return ki
	}
	ki := &keyInfo{name: string(raw)}
	if k.m == nil {
		k.m = make(map[string]*keyInfo, 32)
	}
	if len(k.m) < maxInternKeys {
		k.m[ki.name] = ki
	} else {
		ki.off = true
	}
	return ki
}

// value returns the boxed string raw (plain text: no escapes, valid
// UTF-8) read under ki.
func (k *Keys) value(ki *keyInfo, raw []byte) any {
	if ki.off {
		return string(raw)
	}
	if v, ok := ki.vals[string(raw)]; ok {
		ki.hits++
		return v
	}
	ki.misses++
	var v any = string(raw)
	switch {
	case ki.misses >= cacheTrialMisses && ki.hits < ki.misses:
		ki.off = true
		k.values -= len(ki.vals)
		ki.vals = nil
	case len(raw) <= maxCachedValueLen && k.values < maxCachedValues:
		if ki.vals == nil {
			ki.vals = make(map[string]any, 8)
		}
		ki.vals[v.(string)] = v
		k.values++
	}
	return v
}

func (d *fastDec) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *fastDec) value(depth int) (any, bool) {
	if depth > maxFastDepth || d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		d.i++
		var m map[string]any
		switch {
		case depth == 0 && d.top != nil:
			m = d.top
		case depth == 0:
			m = make(map[string]any, d.hint)
		default:
			m = make(map[string]any, 8)
		}
		d.ws()
		if d.i < len(d.b) && d.b[d.i] == '}' {
			d.i++
			return m, true
		}
		for {
			d.ws()
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return nil, false
			}
			var k string
			var ki *keyInfo
			var ok bool
			if depth == 0 && d.keys != nil {
				ki, ok = d.key()
				if ki != nil {
					k = ki.name
				} else if ok {
					k, ok = d.str()
				}
			} else {
				k, ok = d.str()
			}
			if !ok {
				return nil, false
			}
			d.ws()
			if d.i >= len(d.b) || d.b[d.i] != ':' {
				return nil, false
			}
			d.i++
			d.ws()
			var v any
			if ki != nil && !ki.off && d.i < len(d.b) && d.b[d.i] == '"' {
				v, ok = d.cachedStr(ki)
			} else {
				v, ok = d.value(depth + 1)
			}
			if !ok {
				return nil, false
			}
			m[k] = v // a repeated key: the last wins, as in encoding/json
			d.ws()
			if d.i >= len(d.b) {
				return nil, false
			}
			switch d.b[d.i] {
			case ',':
				d.i++
			case '}':
				d.i++
				return m, true
			default:
				return nil, false
			}
		}
	case c == '[':
		d.i++
		l := []any{}
		d.ws()
		if d.i < len(d.b) && d.b[d.i] == ']' {
			d.i++
			return l, true
		}
		for {
			d.ws()
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			l = append(l, v)
			d.ws()
			if d.i >= len(d.b) {
				return nil, false
			}
			switch d.b[d.i] {
			case ',':
				d.i++
			case ']':
				d.i++
				return l, true
			default:
				return nil, false
			}
		}
	case c == '"':
		s, ok := d.str()
		return s, ok
	case c == 't':
		return true, d.lit("true")
	case c == 'f':
		return false, d.lit("false")
	case c == 'n':
		return nil, d.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.num()
	}
	return nil, false
}

func (d *fastDec) lit(w string) bool {
	if len(d.b)-d.i < len(w) || string(d.b[d.i:d.i+len(w)]) != w {
		return false
	}
	d.i += len(w)
	return true
}

// str reads a string without escapes in valid UTF-8; anything else is
// handed to encoding/json for that one token.
func (d *fastDec) str() (string, bool) {
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.b); j++ {
		c := d.b[j]
		switch {
		case c == '"':
			raw := d.b[start:j]
			d.i = j + 1
			if !ascii && !utf8.Valid(raw) {
				return d.strSlow(start-1, j+1)
			}
			return string(raw), true
		case c == '\\':
			return d.strEscaped(start - 1)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// key reads a top-level key through d.keys. It returns nil, true for
// a key with escapes or non-ASCII bytes, which the caller reads with str.
func (d *fastDec) key() (*keyInfo, bool) {
	for j := d.i + 1; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			ki := d.keys.get(d.b[d.i+1 : j])
			d.i = j + 1
			return ki, true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return nil, true
		}
	}
	return nil, false
}

// cachedStr reads a top-level string value through ki's cache when it is
// plain ASCII text; anything else goes to value.
func (d *fastDec) cachedStr(ki *keyInfo) (any, bool) {
	for j := d.i + 1; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			v := d.keys.value(ki, d.b[d.i+1:j])
			d.i = j + 1
			return v, true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return d.value(1)
		}
	}
	return nil, false
}

// strEscaped finds the end of a string with escapes and lets
// encoding/json unquote it.
func (d *fastDec) strEscaped(open int) (string, bool) {
	for j := open + 1; j < len(d.b); j++ {
		switch d.b[j] {
		case '\\':
			j++
		case '"':
			d.i = j + 1
			return d.strSlow(open, j+1)
		}
	}
	return "", false
}

func (d *fastDec) strSlow(from, to int) (string, bool) {
	var s string
	if err := json.Unmarshal(d.b[from:to], &s); err != nil {
		return "", false
	}
	return s, true
}

// num reads a number with JSON's grammar and converts it as numbers() does.
func (d *fastDec) num() (any, bool) {
	b, start, j := d.b, d.i, d.i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	default:
		return nil, false
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return nil, false
		}
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return nil, false
		}
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	d.i = j
	return numbers(json.Number(b[start:j])), true
}

// appendJSON appends v encoded as Marshal would (sorted keys, no HTML
// escaping). ok is false for a value it does not handle: the caller then
// uses Marshal for the whole document.
func appendJSON(b []byte, v any) ([]byte, bool) {
	e := jsonEnc{b: b}
	ok := e.value(v)
	return e.b, ok
}

// Append is appendJSON remembering the key orders of the objects it
// writes in orders (nil: sort every object's keys). validUTF8 says every
// string and key was valid UTF-8 as it stands (invalid bytes are written
// as U+FFFD, as encoding/json does), so that the schema check need not
// look again. ok is false for a value it does not handle: the caller then
// uses Marshal for the whole document.
func Append(b []byte, v any, orders *KeyOrders) (out []byte, validUTF8, ok bool) {
	e := jsonEnc{b: b, orders: orders}
	ok = e.value(v)
	return e.b, !e.badUTF8, ok
}

// jsonEnc also notes whether it met invalid UTF-8 (written as U+FFFD), so
// that the schema check knows whether it can trust the strings as they are.
type jsonEnc struct {
	b       []byte
	badUTF8 bool
	orders  *KeyOrders // nil: sort every object's keys
}

// KeyOrders remembers the sorted keys of objects an encoder met, so that
// an object with the same keys (the next record's document, its address)
// is written in that order without sorting again: sorting was a twelfth
// of the engine's time. It holds at most maxKeyOrders lists of 4 to 64
// keys, the oldest dropped first.
type KeyOrders struct {
	lists [][]string
}

const maxKeyOrders = 16

// find returns the remembered sorted keys of x, or nil. A list of as many
// distinct keys as x has, each of them in x, is x's key set.
func (o *KeyOrders) find(x map[string]any) []string {
	for _, l := range o.lists {
		if len(l) != len(x) {
			continue
		}
		all := true
		for _, k := range l {
			if _, ok := x[k]; !ok {
				all = false
				break
			}
		}
		if all {
			return l
		}
	}
	return nil
}

func (o *KeyOrders) add(sorted []string) {
	if len(o.lists) >= maxKeyOrders {
		o.lists = append(o.lists[:0], o.lists[1:]...)
	}
	o.lists = append(o.lists, slices.Clone(sorted))
}

func (e *jsonEnc) value(v any) bool {
	switch x := v.(type) {
	case nil:
		e.b = append(e.b, "null"...)
	case string:
		e.str(x)
	case bool:
		e.b = strconv.AppendBool(e.b, x)
	case int:
		e.b = strconv.AppendInt(e.b, int64(x), 10)
	case int64:
		e.b = strconv.AppendInt(e.b, x, 10)
	case float64:
		var ok bool
		e.b, ok = AppendFloat(e.b, x)
		return ok
	case map[string]any:
		if x == nil {
			e.b = append(e.b, "null"...)
			return true
		}
		if len(x) == 0 {
			e.b = append(e.b, "{}"...)
			return true
		}
		remember := e.orders != nil && len(x) >= 4 && len(x) <= 64
		var keys []string
		if remember {
			keys = e.orders.find(x)
		}
		if keys == nil {
			var arr [24]string
			keys = arr[:0]
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if remember {
				e.orders.add(keys)
			}
		}
		e.b = append(e.b, '{')
		for i, k := range keys {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.str(k)
			e.b = append(e.b, ':')
			if !e.value(x[k]) {
				return false
			}
		}
		e.b = append(e.b, '}')
	case []any:
		if x == nil {
			e.b = append(e.b, "null"...)
			return true
		}
		e.b = append(e.b, '[')
		for i, el := range x {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			if !e.value(el) {
				return false
			}
		}
		e.b = append(e.b, ']')
	default:
		return false
	}
	return true
}

func (e *jsonEnc) str(s string) {
	var valid bool
	e.b, valid = appendJSONString(e.b, s)
	if !valid {
		e.badUTF8 = true
	}
}

// AppendFloat is encoding/json's float64 encoding.
func AppendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping
// off: control characters, quote and backslash escaped, invalid UTF-8 as
// U+FFFD, U+2028 and U+2029 escaped for JavaScript.
func appendJSONString(b []byte, s string) (_ []byte, validUTF8 bool) {
	validUTF8 = true
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			validUTF8 = false
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"'), validUTF8
}

// Decode is the decoder of record (encoding/json): integers as int (what
// expr computes with) and other numbers as float64; money and decimals
// should arrive as text, and decimal()/money() read floats through their
// shortest exact form.
func Decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("trailing data after the JSON value")
	}
	return numbers(v), nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil && i == int64(int(i)) {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

// Marshal is the encoder of record: json.Marshal without HTML escaping
// (canonical data keeps "&" and "<" as they are).
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
