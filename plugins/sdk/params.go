package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ParamError is one problem with an instance's settings. Path names the
// key from the top of the settings, nested keys included
// ("entities[1].tabel"), so the hub can point at the key's line.
type ParamError struct {
	Connector string
	Path      string
	Msg       string
}

func (e *ParamError) Error() string { return e.Connector + ": " + e.Path + ": " + e.Msg }

// Validate checks cfg against the declared parameters, applies defaults and
// returns the completed config. It reports every problem at once, each a
// *ParamError: unknown keys (nested ones too, where the declaration has
// Fields), missing required parameters and values of the wrong type.
func (s Spec) Validate(cfg Config) (Config, error) {
	return s.ValidateFor("", cfg)
}

// ValidateFor is Validate for an instance used in one role: a key that
// only the other role reads (Param.Only) is refused, so a source key in a
// destination's settings is reported when the config loads, not when the
// connector's strict decode meets it at start. An empty kind accepts both.
func (s Spec) ValidateFor(kind Kind, cfg Config) (Config, error) {
	var errs []error
	out := validateFields(s.Name, kind, "", s.Params, cfg, true, &errs)
	return out, errors.Join(errs...)
}

// validateFields checks one mapping against its declared keys; prefix is
// the mapping's path ("" at the top, "entities[0]." inside a list item).
// Defaults are applied only at the top: nested defaults belong to the
// connector, which may tell source and destination use apart.
func validateFields(conn string, kind Kind, prefix string, params []Param, cfg map[string]any, defaults bool, errs *[]error) map[string]any {
	out := map[string]any{}
	bad := func(key, format string, args ...any) {
		*errs = append(*errs, &ParamError{Connector: conn, Path: prefix + key, Msg: fmt.Sprintf(format, args...)})
	}
	known := map[string]Param{}
	names := make([]string, 0, len(params))
	for _, p := range params {
		known[p.Name] = p
		names = append(names, p.Name)
	}
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, ok := known[k]
		if !ok {
			if near := Nearest(k, names); near != "" {
				bad(k, "unknown key (did you mean %s?)", near)
			} else {
				bad(k, "unknown key (known: %s)", strings.Join(names, ", "))
			}
			continue
		}
		if kind != "" && p.Only != "" && p.Only != kind {
			bad(k, "a %s setting: a %s does not read it", p.Only, kind)
			continue
		}
		v, err := coerce(p, cfg[k])
		if err != nil {
			bad(k, "%v", err)
			continue
		}
		out[k] = checkNested(conn, kind, prefix+k, p, v, errs)
	}
	for _, p := range params {
		if _, ok := out[p.Name]; ok {
			continue
		}
		if _, given := cfg[p.Name]; given {
			continue // already reported
		}
		if kind != "" && p.Only != "" && p.Only != kind {
			continue // neither defaulted nor required in this role
		}
		if p.Default != "" && defaults {
			v, err := coerce(p, p.Default)
			if err != nil {
				bad(p.Name, "default: %v", err)
				continue
			}
			out[p.Name] = v
			continue
		}
		if p.Required {
			bad(p.Name, "required")
		} else if k, v, ok := strings.Cut(p.RequiredIf, "="); ok {
			if got, _ := out[k].(string); got != "" && slices.Contains(strings.Split(v, "|"), got) {
				bad(p.Name, "required when %s is %s", k, got)
			}
		}
	}
	return out
}

// checkNested validates the inside of an object or of a list's items
// against p.Fields.
func checkNested(conn string, kind Kind, path string, p Param, v any, errs *[]error) any {
	if len(p.Fields) == 0 {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		return validateFields(conn, kind, path+".", p.Fields, x, false, errs)
	case []any:
		items := make([]any, len(x))
		for i, it := range x {
			m, ok := it.(map[string]any)
			if !ok {
				*errs = append(*errs, &ParamError{Connector: conn, Path: fmt.Sprintf("%s[%d]", path, i), Msg: fmt.Sprintf("want an object, got %s", typeName(it))})
				continue
			}
			items[i] = validateFields(conn, kind, fmt.Sprintf("%s[%d].", path, i), p.Fields, m, false, errs)
		}
		return items
	}
	return v
}

// Nearest returns the candidate within two edits of s, or "" when none is.
func Nearest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (adjacent swaps count
// one, so "tabel" is one edit from "table").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int, int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%T", v)
}

// coerce turns a YAML-decoded value into the declared type. Strings are
// accepted for scalar types because values often come from ${ENV} expansion.
func coerce(p Param, v any) (any, error) {
	switch p.Type {
	case TypeString, "":
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case int, int64, float64, bool:
			s = fmt.Sprint(x)
		default:
			return nil, fmt.Errorf("want a string, got %s", typeName(v))
		}
		if len(p.OneOf) > 0 && !oneOf(s, p.OneOf, p.FoldCase) {
			return nil, fmt.Errorf("%q: want one of %s", s, strings.Join(p.OneOf, ", "))
		}
		return s, nil
	case TypeTimezone:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a time zone name like Europe/Berlin, got %s", typeName(v))
		}
		if _, err := time.LoadLocation(s); err != nil {
			return nil, fmt.Errorf("unknown time zone %q (want an IANA name like UTC or Europe/Berlin)", s)
		}
		return s, nil
	case TypeInt:
		switch x := v.(type) {
		case int:
			return x, nil
		case int64:
			return int(x), nil
		case float64:
			if x == float64(int(x)) {
				return int(x), nil
			}
		case string:
			n, err := strconv.Atoi(x)
			if err != nil {
				return nil, fmt.Errorf("want an integer, got %q", x)
			}
			return n, nil
		}
		return nil, fmt.Errorf("want an integer, got %s", typeName(v))
	case TypeBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			b, err := strconv.ParseBool(x)
			if err != nil {
				return nil, fmt.Errorf("want true or false, got %q", x)
			}
			return b, nil
		}
		return nil, fmt.Errorf("want true or false, got %s", typeName(v))
	case TypeDuration:
		if x, ok := v.(string); ok {
			d, err := time.ParseDuration(x)
			if err != nil {
				return nil, fmt.Errorf("want a duration like 5s or 1m, got %q", x)
			}
			return d.String(), nil
		}
		return nil, fmt.Errorf("want a duration like 5s or 1m, got %s", typeName(v))
	case TypeList:
		if x, ok := v.([]any); ok {
			return x, nil
		}
		if x, ok := v.(string); ok && x == "[]" {
			return []any{}, nil
		}
		return nil, fmt.Errorf("want a list, got %s", typeName(v))
	case TypeObject:
		if x, ok := v.(map[string]any); ok {
			return x, nil
		}
		if x, ok := v.(string); ok && x == "{}" {
			return map[string]any{}, nil
		}
		return nil, fmt.Errorf("want an object, got %s", typeName(v))
	}
	return nil, fmt.Errorf("undeclared type %q", p.Type)
}

func oneOf(s string, values []string, fold bool) bool {
	for _, v := range values {
		if s == v || fold && strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

// Decode validates cfg against the declaration (Validate: defaults
// applied, every problem reported) and decodes it into the connector's
// typed config v through its json tags, strictly: a key v has no field for
// is an error, nested ones too, so a misspelt `tabel:` inside an object is
// not silently ignored. Durations decode with the Duration type. Built-in
// and external connectors use the same Decode.
func (s Spec) Decode(cfg Config, v any) error {
	return s.DecodeFor("", cfg, v)
}

// DecodeFor is Decode for one role (ValidateFor): a key the other role
// alone reads is reported by name instead of failing the strict decode.
func (s Spec) DecodeFor(kind Kind, cfg Config, v any) error {
	full, err := s.ValidateFor(kind, cfg)
	if err != nil {
		return err
	}
	b, err := json.Marshal(full)
	if err != nil {
		return fmt.Errorf("%s: encode config: %w", s.Name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: config: %w", s.Name, err)
	}
	return nil
}

// Duration is a time.Duration that decodes from "5s"-style strings, for
// typed connector configs used with Decode.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = Duration(n)
		return nil
	}
	x, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(x)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
