package mapping

import (
	"fmt"
	"sort"

	"github.com/expr-lang/expr/builtin"
)

// What tools built on the language (mapping/suggest, mapping/mappingtest)
// need of it: the target's fields, a registered function by name, how an
// expression names a column, a record decoded as Apply decodes it, and the
// source fields a mapping reads.

// DecodeSample decodes a sample record's JSON object as a mapping sees it
// (whole numbers as int), for Suggest.
func DecodeSample(payload []byte) (map[string]any, error) { return decodeRecord(payload) }

// TargetFields is the set of top-level fields the canonical schema of
// entity allows, nil when it allows any.
func TargetFields(entity, version string) (map[string]bool, error) {
	sh, err := targetShape(entity, version)
	if err != nil {
		return nil, err
	}
	if sh == nil || sh.props == nil {
		return nil, nil
	}
	out := make(map[string]bool, len(sh.props))
	for k := range sh.props {
		out[k] = true
	}
	return out, nil
}

// Call runs the registered function name on args as an expression would
// (no compile-time checks); a value it drops is an error.
func Call(name string, args ...any) (any, error) {
	f := registry[name]
	if f == nil || f.fn == nil {
		return nil, fmt.Errorf("no mapping function %q", name)
	}
	return f.fn(args...)
}

// Ident is how an expression reads a column: its name, or record["…"]
// when the name is not an identifier.
func Ident(col string) string {
	if validKey(col) && col != "record" && col != "meta" && col != "nil" && col != "true" && col != "false" {
		return col
	}
	return fmt.Sprintf("record[%q]", col)
}

// Text is a scalar as the mapping functions read it (numbers in their
// shortest form); ok is false for nil, and an object or list is an error.
func Text(v any) (string, bool, error) { return text(v) }

// Reads lists, sorted, the source fields the mapping's expressions read:
// the names they use that are no function, builtin or constant. A test
// run names those no sample record has (usually a typo, or a literal
// written without quotes).
func (m *Mapping) Reads() []string {
	var out []string
	for name := range m.used {
		if registry[name] == nil && !builtinNames[name] && name != "record" && name != "meta" && !isBuiltinConst(name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func isBuiltinConst(name string) bool {
	_, ok := builtin.Index[name]
	return ok || name == "true" || name == "false" || name == "nil"
}
