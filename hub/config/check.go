package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// durationType is checked by parsing, not by kind: it is an int64 written
// as "5s".
var durationType = reflect.TypeOf(Duration(0))

// checkTree reports, for the whole file at once, mapping keys that no yaml
// tag of t accepts and values of the wrong type, each as
// "file:line: key.path: problem". yaml.v3's own type errors name neither
// the key nor, for custom types, always the line.
func checkTree(path string, n *yaml.Node, t reflect.Type, key string, errs *[]error) {
	bad := func(line int, format string, args ...any) {
		*errs = append(*errs, fmt.Errorf("%w: %s:%d: %s: %s", ErrInvalid, path, line, key, fmt.Sprintf(format, args...)))
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	if t == durationType {
		var s string
		if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
			bad(n.Line, "want a duration like 5s or 1m")
		} else if _, err := time.ParseDuration(s); err != nil {
			bad(n.Line, "want a duration like 5s or 1m, got %q", s)
		}
		return
	}
	join := func(k string) string {
		if key == "" {
			return k
		}
		return key + "." + k
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad(n.Line, "want a mapping of keys, got %s", nodeKind(n))
			return
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = t.Field(i).Type
				names = append(names, name)
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				hint := ""
				if near := sdk.Nearest(k.Value, names); near != "" {
					hint = fmt.Sprintf(" (did you mean %s?)", near)
				}
				*errs = append(*errs, fmt.Errorf("%w: %s:%d: %s: unknown key%s", ErrInvalid, path, k.Line, join(k.Value), hint))
				continue
			}
			checkTree(path, n.Content[i+1], ft, join(k.Value), errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad(n.Line, "want a list, got %s", nodeKind(n))
			return
		}
		for i, c := range n.Content {
			checkTree(path, c, t.Elem(), fmt.Sprintf("%s[%d]", key, i), errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad(n.Line, "want a mapping, got %s", nodeKind(n))
			return
		}
		if t.Elem().Kind() == reflect.Interface {
			return // connector settings: checked against the declaration
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkTree(path, n.Content[i+1], t.Elem(), join(n.Content[i].Value), errs)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		var v int64
		if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil {
			bad(n.Line, "want an integer, got %s", scalarText(n))
		}
	case reflect.Float64, reflect.Float32:
		var v float64
		if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil {
			bad(n.Line, "want a number, got %s", scalarText(n))
		}
	case reflect.Bool:
		var v bool
		if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil {
			bad(n.Line, "want true or false, got %s", scalarText(n))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			bad(n.Line, "want a string, got %s", nodeKind(n))
		}
	}
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func scalarText(n *yaml.Node) string { return nodeKind(n) }

// settingLines records the line of every key and list item under a
// connector's settings, by path ("entities[1].tabel"), so a declaration
// error deep inside can point at its line.
func settingLines(n *yaml.Node, prefix string, out map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if prefix != "" {
				p = prefix + "." + p
			}
			out[p] = n.Content[i].Line
			settingLines(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			out[p] = c.Line
			settingLines(c, p, out)
		}
	}
}

// lineOf finds the line of a settings path, or of its nearest enclosing
// key when the path itself is not in the file (a missing required key).
func lineOf(lines map[string]int, path string) (int, bool) {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l, true
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0, false
}

// SpecFunc returns the declaration of a connector by its plugin name.
type SpecFunc func(plugin string) (sdk.Spec, error)

// CheckConnectors validates every connector instance's settings, and every
// enabled write-back target's, nested ones included, against the
// connector's declaration and returns the instances' completed settings. Every problem is reported at once, each
// as "file:line: connectors[i].settings.path: problem".
func CheckConnectors(c *Config, spec SpecFunc) ([]sdk.Config, error) {
	out := make([]sdk.Config, len(c.Connectors))
	var errs []error
	for i, k := range c.Connectors {
		s, err := spec(k.Plugin)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: connectors[%d].plugin: %w", c.File, k.Line, i, err))
			continue
		}
		v, err := s.ValidateFor(sdk.KindSource, sdk.Config(k.Settings))
		if err != nil {
			errs = append(errs, k.settingErrors(c.File, err)...)
			continue
		}
		out[i] = withStateDir(v, s, c.DataDir, k.Name)
	}
	// Write-back targets' settings are checked with the rest, so a
	// misspelt destination key does not wait for write-back to start.
	for i, t := range c.Targets {
		if t.Disabled {
			continue
		}
		s, err := spec(t.Plugin)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: targets[%d].plugin: %w", c.File, t.Line, i, err))
			continue
		}
		if _, err := s.ValidateFor(sdk.KindDestination, sdk.Config(t.Settings)); err != nil {
			for _, e := range unjoinErr(err) {
				var pe *sdk.ParamError
				if errors.As(e, &pe) {
					errs = append(errs, fmt.Errorf("%s: %s", t.Where(c.File, pe.Path), pe.Msg))
				} else {
					errs = append(errs, fmt.Errorf("%s: %w", t.Where(c.File, ""), e))
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return out, nil
}

func unjoinErr(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// settingErrors places each declaration error of err at its line.
func (k Connector) settingErrors(file string, err error) []error {
	var out []error
	for _, e := range unjoinErr(err) {
		var pe *sdk.ParamError
		if errors.As(e, &pe) {
			out = append(out, fmt.Errorf("%s: %s", k.Where(file, pe.Path), pe.Msg))
			continue
		}
		out = append(out, fmt.Errorf("%s: %w", k.Where(file, ""), e))
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Error() < out[b].Error() })
	return out
}

// sqliteDir is the directory of a SQLite DSN's database file; ok is false
// for an in-memory database.
func sqliteDir(dsn string) (string, bool) {
	p, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if p == "" || p == ":memory:" || strings.Contains(dsn, "mode=memory") {
		return "", false
	}
	return filepath.Dir(p), true
}

// StateDirParam is the parameter by which a connector asks for a directory
// of its own to keep state between runs (the sql source's row hashes, the
// rest source's record fingerprints).
const StateDirParam = "state_dir"

// withStateDir gives an instance whose connector declares state_dir and
// whose settings leave it unset the folder <data_dir>/connectors/<name>,
// so state kept between runs lives with the hub's other data by default
// (and two instances never share one).
func withStateDir(v sdk.Config, s sdk.Spec, dataDir, name string) sdk.Config {
	if v == nil || dataDir == "" || v[StateDirParam] != nil && v[StateDirParam] != "" {
		return v
	}
	for _, p := range s.Params {
		if p.Name == StateDirParam {
			v[StateDirParam] = filepath.Join(dataDir, "connectors", name)
			break
		}
	}
	return v
}
