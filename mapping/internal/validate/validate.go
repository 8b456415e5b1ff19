package validate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/crmhub/crmhub/mapping/internal/jsonfast"
	"github.com/crmhub/crmhub/schemas"
)

// gojsonschema stays the validator of record, but it costs most of a
// record's time: it re-encodes the Go document to JSON and decodes it again
// (jsonGoLoader), builds a result and a context per node and parses every
// date-time against five layouts, each failure allocating an error. Most
// mapped records are valid, so a compiled check of the same schema files
// answers the common case: when it proves a document valid, the engine
// skips gojsonschema; in every other case (invalid, or a value it cannot
// judge exactly) gojsonschema runs and produces the violations.
//
// The check reads the schema files themselves, so it cannot drift from
// them, and supports exactly the keywords crmhub's schemas use, with
// gojsonschema's semantics (a $ref ignores its siblings; enum and const
// compare JSON texts; uniqueItems compares JSON texts; integer means a
// number with no fraction; unknown formats pass). A schema with any other
// keyword gets no fast check. FuzzValidateEquivalence and
// TestValidateEquivalence compare it with gojsonschema.

// Result is what the compiled check can say of a document.
type Result int8

const (
	Valid   Result = iota
	Invalid        // gojsonschema would report violations: ask it which
	Unknown        // cannot tell exactly: ask gojsonschema
)

func and(a, b Result) Result {
	if a == Invalid || b == Invalid {
		return Invalid
	}
	if a == Unknown || b == Unknown {
		return Unknown
	}
	return Valid
}

const (
	tNull uint8 = 1 << iota
	tBool
	tObject
	tArray
	tNumber
	tInteger
	tString
)

var typeBits = map[string]uint8{"null": tNull, "boolean": tBool, "object": tObject, "array": tArray, "number": tNumber, "integer": tInteger, "string": tString}

// Schema is one compiled (sub)schema.
type Schema struct {
	ref      *Schema
	types    uint8 // 0: untyped
	enum     []string
	hasEnum  bool
	constS   string
	hasConst bool
	required []string
	props    map[string]*Schema
	propList []prop // props, for walking them instead of the object
	noAddl   bool
	addl     *Schema
	items    *Schema
	unique   bool
	pattern  *regexp.Regexp
	match    func(string) bool // pattern's matcher: a hand-written one (patterns.go) or its MatchString
	minLen   int               // -1: none
	maxLen   int               // -1: none
	minimum  *big.Rat
	minInt   int64 // minimum when minIsInt
	minIsInt bool
	dateTime bool
	allOf    []*Schema
	anyOf    []*Schema
	ifS      *Schema
	thenS    *Schema
	elseS    *Schema
}

// check validates v (a decoded document: maps, []any, strings, bool, nil,
// int, int64, float64).
// prop is one named property's schema.
type prop struct {
	name string
	s    *Schema
}

func (n *Schema) Check(v any) Result { return n.CheckUTF8(v, false) }

// CheckUTF8 is check; utf8OK says every string and key in v is known to
// be valid UTF-8 (the encoder saw them all), which spares checking again.
func (n *Schema) CheckUTF8(v any, utf8OK bool) Result {
	for n.ref != nil {
		n = n.ref
	}
	var kind uint8
	switch x := v.(type) {
	case nil:
		kind = tNull
	case bool:
		kind = tBool
	case string:
		if !utf8OK && !utf8.ValidString(x) {
			return Unknown // gojsonschema sees it with U+FFFD replacements
		}
		kind = tString
	case int, int64:
		kind = tNumber | tInteger
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return Unknown
		}
		kind = tNumber
		if math.Trunc(x) == x {
			kind |= tInteger
		}
	case map[string]any:
		kind = tObject
	case []any:
		kind = tArray
	default:
		return Unknown
	}
	if n.types != 0 && n.types&kind == 0 {
		return Invalid
	}
	res := Valid
	// enum and const hold JSON strings only (see compile): only a string
	// can equal one.
	if n.hasEnum {
		s, ok := v.(string)
		found := false
		if ok {
			for _, e := range n.enum {
				if e == s {
					found = true
					break
				}
			}
		}
		if !found {
			return Invalid
		}
	}
	if n.hasConst {
		if s, ok := v.(string); !ok || s != n.constS {
			return Invalid
		}
	}
	switch x := v.(type) {
	case string:
		if n.minLen >= 0 && utf8.RuneCountInString(x) < n.minLen {
			return Invalid
		}
		if n.maxLen >= 0 && utf8.RuneCountInString(x) > n.maxLen {
			return Invalid
		}
		if n.match != nil && !n.match(x) {
			return Invalid
		}
		if n.dateTime && !isDateTime(x) {
			return Invalid
		}
	case int:
		if n.minimum != nil && !n.atLeastMin(int64(x), 0, true) {
			return Invalid
		}
	case int64:
		if n.minimum != nil && !n.atLeastMin(x, 0, true) {
			return Invalid
		}
	case float64:
		if n.minimum != nil && !n.atLeastMin(0, x, false) {
			return Invalid
		}
	case map[string]any:
		for _, r := range n.required {
			if _, ok := x[r]; !ok {
				return Invalid
			}
		}
		if utf8OK && !n.noAddl && n.addl == nil && len(n.propList) < len(x) {
			// Only the named properties are constrained: looking each up
			// is cheaper than walking a larger object, which a branch of
			// if/then/else naming two or three fields did for every
			// record. The keys' UTF-8 is known good, so the other keys
			// need no look.
			for _, p := range n.propList {
				if e, ok := x[p.name]; ok {
					if res = and(res, p.s.CheckUTF8(e, utf8OK)); res == Invalid {
						return res
					}
				}
			}
			break
		}
		for k, e := range x {
			if !utf8OK && !utf8.ValidString(k) {
				res = and(res, Unknown)
				continue
			}
			if p, ok := n.props[k]; ok {
				res = and(res, p.CheckUTF8(e, utf8OK))
			} else if n.noAddl {
				return Invalid
			} else if n.addl != nil {
				res = and(res, n.addl.CheckUTF8(e, utf8OK))
			}
			if res == Invalid {
				return res
			}
		}
	case []any:
		if n.items != nil {
			for _, e := range x {
				if res = and(res, n.items.CheckUTF8(e, utf8OK)); res == Invalid {
					return res
				}
			}
		}
		if n.unique {
			res = and(res, uniqueStrings(x))
		}
	}
	if res == Invalid {
		return res
	}
	for _, s := range n.allOf {
		if res = and(res, s.CheckUTF8(v, utf8OK)); res == Invalid {
			return res
		}
	}
	if len(n.anyOf) > 0 {
		any := Invalid
		for _, s := range n.anyOf {
			switch s.CheckUTF8(v, utf8OK) {
			case Valid:
				any = Valid
			case Unknown:
				if any == Invalid {
					any = Unknown
				}
			}
			if any == Valid {
				break
			}
		}
		if res = and(res, any); res == Invalid {
			return res
		}
	}
	if n.ifS != nil {
		switch n.ifS.CheckUTF8(v, utf8OK) {
		case Valid:
			if n.thenS != nil {
				res = and(res, n.thenS.CheckUTF8(v, utf8OK))
			}
		case Invalid:
			if n.elseS != nil {
				res = and(res, n.elseS.CheckUTF8(v, utf8OK))
			}
		default:
			res = and(res, Unknown)
		}
	}
	return res
}

// atLeastMin compares a number with minimum as gojsonschema does: the
// number's JSON text as an exact rational.
func (n *Schema) atLeastMin(i int64, f float64, isInt bool) bool {
	if isInt && n.minIsInt {
		return i >= n.minInt
	}
	var r *big.Rat
	if isInt {
		r = new(big.Rat).SetInt64(i)
	} else {
		b, _ := jsonfast.AppendFloat(nil, f)
		var ok bool
		if r, ok = new(big.Rat).SetString(string(b)); !ok {
			return false
		}
	}
	return r.Cmp(n.minimum) >= 0
}

// uniqueStrings: gojsonschema compares the items' JSON texts; for valid
// UTF-8 strings that is string equality. Other items: ask gojsonschema.
func uniqueStrings(l []any) Result {
	for i, a := range l {
		s, ok := a.(string)
		if !ok || !utf8.ValidString(s) {
			return Unknown
		}
		for _, b := range l[:i] {
			if b.(string) == s {
				return Invalid
			}
		}
	}
	return Valid
}

// dateTimeLayouts are gojsonschema's DateTimeFormatChecker layouts; the
// common one is tried first (the result is the same in any order).
var dateTimeLayouts = []string{time.RFC3339, "15:04:05", "15:04:05Z07:00", "2006-01-02", time.RFC3339Nano}

func isDateTime(s string) bool {
	for _, l := range dateTimeLayouts {
		if _, err := time.Parse(l, s); err == nil {
			return true
		}
	}
	return false
}

// compiled compiles every canonical schema once; a schema the compiler
// does not fully understand maps to nil (gojsonschema only).
var compiled = sync.OnceValue(func() map[string]*Schema {
	out := map[string]*Schema{}
	c := &vcompiler{docs: map[string]map[string]any{}, nodes: map[string]*Schema{}}
	for _, name := range schemas.Names() {
		n, err := c.root(name + ".json")
		if err != nil {
			out[name] = nil
			continue
		}
		out[name] = n
	}
	return out
})

// For is the compiled check for entity and version, or nil.
func For(entity, version string) *Schema {
	return compiled()[entity+"."+version]
}

type vcompiler struct {
	docs  map[string]map[string]any // file -> decoded schema
	nodes map[string]*Schema        // file#pointer -> node
}

const draft07 = "http://json-schema.org/draft-07/schema#"

func (c *vcompiler) doc(file string) (map[string]any, error) {
	if d, ok := c.docs[file]; ok {
		return d, nil
	}
	b, err := schemas.FS().ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var d map[string]any
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("schema %s: %w", file, err)
	}
	if d["$schema"] != draft07 {
		return nil, fmt.Errorf("schema %s: only draft-07 is compiled", file)
	}
	c.docs[file] = d
	return d, nil
}

func (c *vcompiler) root(file string) (*Schema, error) {
	return c.ref(file, "")
}

// ref resolves file#pointer (pointer "/definitions/money") to a node.
func (c *vcompiler) ref(file, pointer string) (*Schema, error) {
	key := file + "#" + pointer
	if n, ok := c.nodes[key]; ok {
		return n, nil
	}
	d, err := c.doc(file)
	if err != nil {
		return nil, err
	}
	var cur any = d
	if pointer != "" {
		if !strings.HasPrefix(pointer, "/") || strings.ContainsAny(pointer, "~%") {
			return nil, fmt.Errorf("unsupported pointer %q", pointer)
		}
		for _, p := range strings.Split(pointer[1:], "/") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("bad pointer %q", pointer)
			}
			if cur, ok = m[p]; !ok {
				return nil, fmt.Errorf("bad pointer %q", pointer)
			}
		}
	}
	sm, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not a schema object", key)
	}
	n := &Schema{}
	c.nodes[key] = n // before compiling: a recursive $ref finds it
	if err := c.compile(n, file, sm); err != nil {
		return nil, err
	}
	return n, nil
}

func (c *vcompiler) sub(file string, v any) (*Schema, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("boolean or non-object schemas are not compiled")
	}
	n := &Schema{}
	return n, c.compile(n, file, m)
}

func (c *vcompiler) subs(file string, v any) ([]*Schema, error) {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return nil, fmt.Errorf("want a non-empty list of schemas")
	}
	out := make([]*Schema, 0, len(l))
	for _, e := range l {
		n, err := c.sub(file, e)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (c *vcompiler) compile(n *Schema, file string, m map[string]any) error {
	n.minLen = -1
	n.maxLen = -1
	if r, ok := m["$ref"]; ok {
		// gojsonschema follows a $ref and ignores the keywords beside it.
		s, ok := r.(string)
		if !ok {
			return fmt.Errorf("$ref is not a string")
		}
		f, ptr, _ := strings.Cut(strings.TrimPrefix(s, schemasBaseURL), "#")
		if f == "" {
			f = file
		}
		if strings.Contains(f, "/") {
			return fmt.Errorf("unsupported $ref %q", s)
		}
		t, err := c.ref(f, ptr)
		if err != nil {
			return err
		}
		n.ref = t
		return nil
	}
	for k, v := range m {
		var err error
		switch k {
		case "$schema", "$id", "title", "description", "$comment", "definitions", "examples", "default":
		case "type":
			switch t := v.(type) {
			case string:
				if n.types = typeBits[t]; n.types == 0 {
					err = fmt.Errorf("unknown type %q", t)
				}
			case []any:
				for _, e := range t {
					s, _ := e.(string)
					if typeBits[s] == 0 {
						return fmt.Errorf("unknown type %v", e)
					}
					n.types |= typeBits[s]
				}
			default:
				err = fmt.Errorf("bad type")
			}
		case "enum":
			l, ok := v.([]any)
			if !ok {
				return fmt.Errorf("bad enum")
			}
			n.hasEnum = true
			for _, e := range l {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("enum values other than strings are not compiled")
				}
				n.enum = append(n.enum, s)
			}
		case "const":
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("const values other than strings are not compiled")
			}
			n.constS, n.hasConst = s, true
		case "required":
			l, ok := v.([]any)
			if !ok {
				return fmt.Errorf("bad required")
			}
			for _, e := range l {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("bad required")
				}
				n.required = append(n.required, s)
			}
		case "properties":
			pm, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("bad properties")
			}
			n.props = make(map[string]*Schema, len(pm))
			for p, ps := range pm {
				if n.props[p], err = c.sub(file, ps); err != nil {
					return err
				}
				n.propList = append(n.propList, prop{p, n.props[p]})
			}
		case "additionalProperties":
			if b, ok := v.(bool); ok {
				n.noAddl = !b
			} else {
				n.addl, err = c.sub(file, v)
			}
		case "items":
			n.items, err = c.sub(file, v) // the tuple form is not compiled
		case "uniqueItems":
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("bad uniqueItems")
			}
			n.unique = b
		case "pattern":
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("bad pattern")
			}
			n.pattern, err = regexp.Compile(s)
			if n.match = fixedPatterns[s]; n.match == nil && err == nil {
				n.match = n.pattern.MatchString
			}
		case "minLength":
			num, ok := v.(json.Number)
			i, e := num.Int64()
			if !ok || e != nil || i < 0 {
				return fmt.Errorf("bad minLength")
			}
			n.minLen = int(i)
		case "maxLength":
			num, ok := v.(json.Number)
			i, e := num.Int64()
			if !ok || e != nil || i < 0 {
				return fmt.Errorf("bad maxLength")
			}
			n.maxLen = int(i)
		case "minimum":
			num, ok := v.(json.Number)
			if !ok {
				return fmt.Errorf("bad minimum")
			}
			r, ok := new(big.Rat).SetString(string(num))
			if !ok {
				return fmt.Errorf("bad minimum")
			}
			n.minimum = r
			if r.IsInt() && r.Num().IsInt64() {
				n.minInt, n.minIsInt = r.Num().Int64(), true
			}
		case "format":
			if v != "date-time" {
				return fmt.Errorf("format %v is not compiled", v)
			}
			n.dateTime = true
		case "allOf":
			n.allOf, err = c.subs(file, v)
		case "anyOf":
			n.anyOf, err = c.subs(file, v)
		case "if":
			n.ifS, err = c.sub(file, v)
		case "then":
			n.thenS, err = c.sub(file, v)
		case "else":
			n.elseS, err = c.sub(file, v)
		default:
			return fmt.Errorf("keyword %q is not compiled", k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// schemasBaseURL is the $id prefix of crmhub's schema files.
const schemasBaseURL = "https://crmhub.dev/schemas/"
