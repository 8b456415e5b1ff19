package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Validate checks cfg against the declared parameters, applies defaults and
// returns the completed config. It reports every problem at once: unknown
// keys, missing required parameters and values of the wrong type.
func (s Spec) Validate(cfg Config) (Config, error) {
	out := Config{}
	var errs []error
	known := map[string]Param{}
	for _, p := range s.Params {
		known[p.Name] = p
	}
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, ok := known[k]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown parameter %q", s.Name, k))
			continue
		}
		v, err := coerce(p, cfg[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: parameter %q: %w", s.Name, k, err))
			continue
		}
		out[k] = v
	}
	for _, p := range s.Params {
		if _, ok := out[p.Name]; ok {
			continue
		}
		if p.Default != "" {
			v, err := coerce(p, p.Default)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: default of %q: %w", s.Name, p.Name, err))
				continue
			}
			out[p.Name] = v
			continue
		}
		if p.Required {
			errs = append(errs, fmt.Errorf("%s: parameter %q is required", s.Name, p.Name))
		}
	}
	return out, errors.Join(errs...)
}

// coerce turns a YAML-decoded value into the declared type. Strings are
// accepted for scalar types because values often come from ${ENV} expansion.
func coerce(p Param, v any) (any, error) {
	switch p.Type {
	case TypeString, "":
		switch x := v.(type) {
		case string:
			return x, nil
		case int, int64, float64, bool:
			return fmt.Sprint(x), nil
		}
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
	case TypeDuration:
		if x, ok := v.(string); ok {
			d, err := time.ParseDuration(x)
			if err != nil {
				return nil, fmt.Errorf("want a duration like 5s or 1m, got %q", x)
			}
			return d.String(), nil
		}
	case TypeList:
		if x, ok := v.([]any); ok {
			return x, nil
		}
		if x, ok := v.(string); ok && x == "[]" {
			return []any{}, nil
		}
	case TypeObject:
		if x, ok := v.(map[string]any); ok {
			return x, nil
		}
		if x, ok := v.(string); ok && x == "{}" {
			return map[string]any{}, nil
		}
	default:
		return nil, fmt.Errorf("undeclared type %q", p.Type)
	}
	return nil, fmt.Errorf("want %s, got %T", p.Type, v)
}

// Decode copies a validated config into a typed struct through its json
// tags; durations arrive as strings and are parsed with time.ParseDuration
// by the connector (or use the Duration type).
func Decode(cfg Config, v any) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode config: %w", err)
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
