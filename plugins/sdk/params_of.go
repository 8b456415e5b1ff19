package sdk

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParamsOption adds to ParamsOf what a struct tag cannot hold well.
type ParamsOption func(*paramsOf)

type paramsOf struct {
	oneOf map[string][]string // by dotted path: "files.encoding"
	used  map[string]bool
	also  []reflect.Type // WithKeysOf
	roles []Kind         // WithRoles: the primary struct's, then each also's
}

// WithRoles names the role each struct of ParamsOf is decoded for: the
// primary struct's first, then each WithKeysOf struct's in order. A key
// only one role's struct holds is then that role's alone (Param.Only), and
// the hub refuses it in the other role's settings at load:
//
//	sdk.ParamsOf(Config{}, sdk.WithKeysOf(DestConfig{}),
//		sdk.WithRoles(sdk.KindSource, sdk.KindDestination))
func WithRoles(primary Kind, also ...Kind) ParamsOption {
	return func(o *paramsOf) { o.roles = append([]Kind{primary}, also...) }
}

// only marks every parameter of ps, nested ones too, as read by kind alone.
func only(ps []Param, kind Kind) []Param {
	out := slices.Clone(ps)
	for i := range out {
		out[i].Only = kind
		out[i].Fields = only(out[i].Fields, kind)
	}
	return out
}

// WithOneOf sets the accepted values of the parameter at path (names joined
// by dots: "files.encoding") from a Go value, for lists that the connector
// also uses in code and that would otherwise be copied into a tag.
func WithOneOf(path string, values ...string) ParamsOption {
	return func(o *paramsOf) { o.oneOf[path] = values }
}

// WithKeysOf adds the keys of another struct the connector decodes the
// same settings into: a connector that is both a source and a destination
// declares both roles' keys as one list, because the hub validates an
// instance's settings before it knows the role:
//
//	sdk.ParamsOf(Config{}, sdk.WithKeysOf(DestConfig{}))
//
// Each struct documents the keys only it reads; a key both read is one
// parameter, merged (mergeParam), nested items too, so `entities` holds
// the keys of both roles.
func WithKeysOf(v any) ParamsOption {
	return func(o *paramsOf) { o.also = append(o.also, structType(v)) }
}

func structType(v any) reflect.Type {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("sdk.ParamsOf: want a struct, got %T", v))
	}
	return t
}

// ParamsOf derives the parameter declaration from a typed config struct, so
// the struct the connector decodes into is the only place a key is declared.
// Fields are read in order:
//
//	json:"name"                the key; "-", no json tag or an unexported field: not a parameter
//	param:"required,secret,foldcase"
//	default:"5s"               as written in YAML; checked against the type
//	doc:"..."                  the description
//	example:"..."
//	oneof:"a|b|c"              accepted values of a string
//	type:"timezone"            overrides the type taken from the Go type
//
// The type follows the Go type: string, integers, bool, Duration (or
// time.Duration) as duration, a slice as list (of a struct: with Fields),
// a struct or pointer to struct as object with Fields, a map as object; a
// pointer to anything else as what it points to. An embedded struct without
// a json tag has its fields inlined, as encoding/json does, and a key of the
// outer struct hides the embedded one's (two embedded structs with the
// same key give one parameter, merged as WithKeysOf merges).
//
// A malformed declaration (a default that does not parse as its type, an
// unknown tag word or type, a float field, a WithOneOf path that names no
// parameter) is a programming error found when the connector's package is
// initialised, so ParamsOf panics, naming the field.
func ParamsOf(v any, opts ...ParamsOption) []Param {
	t := structType(v)
	o := &paramsOf{oneOf: map[string][]string{}, used: map[string]bool{}}
	for _, opt := range opts {
		opt(o)
	}
	if o.roles != nil && len(o.roles) != 1+len(o.also) {
		panic(fmt.Sprintf("sdk.ParamsOf(%s): WithRoles names %d roles for %d structs", t, len(o.roles), 1+len(o.also)))
	}
	role := func(i int) Kind {
		if o.roles == nil {
			return ""
		}
		return o.roles[i]
	}
	params := only(o.fields(t, t.String(), ""), role(0))
	for i, at := range o.also {
		params = mergeParams(t.String()+"+"+at.String(), params, only(o.fields(at, at.String(), ""), role(i+1)))
	}
	for path := range o.oneOf {
		if !o.used[path] {
			panic(fmt.Sprintf("sdk.ParamsOf(%s): WithOneOf(%q): no such parameter", t, path))
		}
	}
	return params
}

var (
	durationType    = reflect.TypeOf(Duration(0))
	stdDurationType = reflect.TypeOf(time.Duration(0))
)

// fields declares the parameters of struct t; where names the struct in
// panics, path is the dotted prefix of its keys for WithOneOf.
func (o *paramsOf) fields(t reflect.Type, where, path string) []Param {
	// A key declared directly here hides the same key of an embedded
	// struct, as in encoding/json, so a declaration can embed a config and
	// replace one of its fields.
	own := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); !f.Anonymous {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			own[name] = true
		}
	}
	var out []Param
	embedded := map[string]int{} // key of an embedded struct -> its index in out
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		if f.Anonymous && !hasTag {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for _, p := range o.fields(et, where, path) {
					if own[p.Name] {
						continue
					}
					if j, ok := embedded[p.Name]; ok {
						out[j] = mergeParam(where, out[j], p)
						continue
					}
					embedded[p.Name] = len(out)
					out = append(out, p)
				}
				continue
			}
		}
		name, _, _ := strings.Cut(tag, ",")
		if !f.IsExported() || !hasTag || name == "-" || name == "" {
			continue
		}
		out = append(out, o.param(f, name, where+"."+f.Name, path+name))
	}
	return out
}

// mergeParams is the union of two declarations, in the order of a then
// the keys only b has.
func mergeParams(where string, a, b []Param) []Param {
	if len(b) == 0 {
		return a
	}
	out := slices.Clone(a)
	at := map[string]int{}
	for i, p := range out {
		at[p.Name] = i
	}
	for _, p := range b {
		if i, ok := at[p.Name]; ok {
			out[i] = mergeParam(where, out[i], p)
			continue
		}
		at[p.Name] = len(out)
		out = append(out, p)
	}
	return out
}

// mergeParam joins two declarations of one key (WithKeysOf: a source's and
// a destination's config): each role documents the keys only it reads, and
// a key both read is one parameter. Descriptions
// are joined, as each says what the key does for its role; a default,
// example or accepted values given by both must agree, and a key is
// required, secret or case-folded when either says so. Nested fields are
// merged the same way, so `entities` items hold the keys of both roles.
func mergeParam(where string, a, b Param) Param {
	fail := func(what string, x, y any) {
		panic(fmt.Sprintf("sdk.ParamsOf: %s: key %s declared twice with different %s: %v and %v", where, a.Name, what, x, y))
	}
	switch {
	case a.Type == b.Type:
	case a.Type == TypeString && b.Type == TypeTimezone:
		// A time zone is a string: the struct that reads it as a zone
		// says so with its type tag, the other need not repeat it.
		a.Type = b.Type
	case a.Type == TypeTimezone && b.Type == TypeString:
	default:
		fail("types", a.Type, b.Type)
	}
	pick := func(what, x, y string) string {
		if x != "" && y != "" && x != y {
			fail(what, strconv.Quote(x), strconv.Quote(y))
		}
		if x == "" {
			return y
		}
		return x
	}
	a.Default = pick("defaults", a.Default, b.Default)
	a.Example = pick("examples", a.Example, b.Example)
	a.RequiredIf = pick("required_if conditions", a.RequiredIf, b.RequiredIf)
	switch {
	case a.Description == "":
		a.Description = b.Description
	case b.Description != "" && b.Description != a.Description:
		a.Description += " " + b.Description
	}
	switch {
	case a.OneOf == nil:
		a.OneOf = b.OneOf
	case b.OneOf != nil && !slices.Equal(a.OneOf, b.OneOf):
		fail("accepted values", a.OneOf, b.OneOf)
	}
	a.Required = a.Required || b.Required
	a.Secret = a.Secret || b.Secret
	a.FoldCase = a.FoldCase || b.FoldCase
	if a.Default != "" && a.Required {
		fail("requirement", "a default", "required")
	}
	if a.Only != b.Only {
		a.Only = "" // both roles read it
	}
	a.Fields = mergeParams(where+"."+a.Name, a.Fields, b.Fields)
	return a
}

func (o *paramsOf) param(f reflect.StructField, name, where, path string) Param {
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("sdk.ParamsOf: field %s (%s): %s", where, name, fmt.Sprintf(format, args...)))
	}
	p := Param{
		Name:        name,
		Default:     f.Tag.Get("default"),
		Description: f.Tag.Get("doc"),
		Example:     f.Tag.Get("example"),
	}
	if words, ok := f.Tag.Lookup("param"); ok {
		for _, w := range strings.Split(words, ",") {
			switch strings.TrimSpace(w) {
			case "required":
				p.Required = true
			case "secret":
				p.Secret = true
			case "foldcase":
				p.FoldCase = true
			case "":
			default:
				fail("param tag: unknown word %q (want required, secret, foldcase)", w)
			}
		}
	}
	if s, ok := f.Tag.Lookup("oneof"); ok && s != "" {
		p.OneOf = strings.Split(s, "|")
	}
	if s, ok := f.Tag.Lookup("required_if"); ok && s != "" {
		if k, v, ok := strings.Cut(s, "="); !ok || k == "" || v == "" {
			fail("required_if tag %q: want key=value or key=a|b", s)
		}
		p.RequiredIf = s
	}
	if vals, ok := o.oneOf[path]; ok {
		if p.OneOf != nil {
			fail("oneof given both in the tag and by WithOneOf")
		}
		p.OneOf = vals
		o.used[path] = true
	}

	t := f.Type
	if t.Kind() == reflect.Pointer && t.Elem().Kind() != reflect.Struct {
		t = t.Elem() // *bool: optional, but still a bool
	}
	switch {
	case t == durationType || t == stdDurationType:
		p.Type = TypeDuration
	default:
		switch t.Kind() {
		case reflect.String:
			p.Type = TypeString
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			p.Type = TypeInt
		case reflect.Bool:
			p.Type = TypeBool
		case reflect.Slice, reflect.Array:
			p.Type = TypeList
			et := t.Elem()
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct && et != durationType {
				p.Fields = o.fields(et, where+"[]", path+".")
			}
		case reflect.Pointer: // to a struct, see above
			p.Type = TypeObject
			p.Fields = o.fields(t.Elem(), where, path+".")
		case reflect.Struct:
			p.Type = TypeObject
			p.Fields = o.fields(t, where, path+".")
		case reflect.Map:
			if t.Key().Kind() != reflect.String {
				fail("map key %s: want string keys", t.Key())
			}
			p.Type = TypeObject
		default:
			// Floats included: settings are counts, sizes and durations, and
			// money is never a float.
			fail("unsupported Go type %s", f.Type)
		}
	}
	if s, ok := f.Tag.Lookup("type"); ok {
		switch ParamType(s) {
		case TypeString, TypeInt, TypeBool, TypeDuration, TypeList, TypeObject, TypeTimezone:
			p.Type = ParamType(s)
		default:
			fail("type tag: unknown type %q", s)
		}
	}
	if len(p.OneOf) > 0 && p.Type != TypeString {
		fail("oneof on a %s parameter: only strings have accepted values", p.Type)
	}
	if p.Default != "" {
		if _, err := coerce(p, p.Default); err != nil {
			fail("default %q: %v", p.Default, err)
		}
		if p.Required {
			fail("required with a default: one of them is wrong")
		}
	}
	return p
}
