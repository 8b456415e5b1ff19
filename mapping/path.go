package mapping

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/crmhub/crmhub/mapping/funcs"
)

// segment is one step of a target path: a key, optionally indexed
// (a[0]) or appended to (a[], a[+1]).
type segment struct {
	key    string
	index  int // -1: no index
	append bool
}

var errPath = errors.New("bad target path")

// parsePath reads "a.b", "a[0].b", "a[]", "a[+2]". An append must be the
// last step, since "a[].b" could not say which element b belongs to.
func parsePath(p string) ([]segment, error) {
	if p == "" {
		return nil, fmt.Errorf("%w: empty", errPath)
	}
	parts := strings.Split(p, ".")
	segs := make([]segment, 0, len(parts))
	for i, part := range parts {
		s := segment{key: part, index: -1}
		if j := strings.IndexByte(part, '['); j >= 0 {
			if !strings.HasSuffix(part, "]") {
				return nil, fmt.Errorf("%w %q: missing ]", errPath, p)
			}
			s.key = part[:j]
			idx := part[j+1 : len(part)-1]
			switch {
			case idx == "" || (strings.HasPrefix(idx, "+") && funcs.AllDigits(idx[1:]) && len(idx) > 1):
				if i != len(parts)-1 {
					return nil, fmt.Errorf("%w %q: an append [] must be the last step", errPath, p)
				}
				s.append = true
			case funcs.AllDigits(idx) && len(idx) < 4:
				s.index, _ = strconv.Atoi(idx)
			default:
				return nil, fmt.Errorf("%w %q: index must be a number, [] or [+n]", errPath, p)
			}
		}
		if s.key == "" || !validKey(s.key) {
			return nil, fmt.Errorf("%w %q: step %q is not a field name", errPath, p, part)
		}
		segs = append(segs, s)
	}
	return segs, nil
}

func validKey(k string) bool {
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// setPath writes v at path in root. Appended lists are flattened and
// de-duplicated, so several phone columns and a split e-mail list can all
// go to one array.
func setPath(root map[string]any, segs []segment, v any) error {
	cur := root
	for i, s := range segs {
		last := i == len(segs)-1
		switch {
		case s.append:
			list, ok := cur[s.key].([]any)
			if !ok && cur[s.key] != nil {
				return fmt.Errorf("%s is already set and is not a list", s.key)
			}
			// Boxing a slice for the map allocates: write back only a
			// list that changed (appending changes at least its length).
			if nl := appendUnique(list, v); len(nl) != len(list) || list == nil {
				cur[s.key] = nl
			}
			return nil
		case s.index >= 0:
			list, ok := cur[s.key].([]any)
			if !ok && cur[s.key] != nil {
				return fmt.Errorf("%s is already set and is not a list", s.key)
			}
			if len(list) <= s.index || list == nil {
				for len(list) <= s.index {
					list = append(list, nil)
				}
				cur[s.key] = list
			}
			if last {
				list[s.index] = v
				return nil
			}
			m, ok := list[s.index].(map[string]any)
			if !ok {
				if list[s.index] != nil {
					return fmt.Errorf("%s[%d] is already set and is not an object", s.key, s.index)
				}
				m = map[string]any{}
				list[s.index] = m
			}
			cur = m
		case last:
			cur[s.key] = v
		default:
			m, ok := cur[s.key].(map[string]any)
			if !ok {
				if cur[s.key] != nil {
					return fmt.Errorf("%s is already set and is not an object", s.key)
				}
				m = map[string]any{}
				cur[s.key] = m
			}
			cur = m
		}
	}
	return nil
}

func appendUnique(list []any, v any) []any {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			list = appendUnique(list, e)
		}
		return list
	case []string:
		for _, e := range x {
			list = appendUnique(list, e)
		}
		return list
	case nil:
		return list
	case string:
		if x == "" {
			return list
		}
		for _, e := range list {
			if e == v {
				return list
			}
		}
		return append(list, v)
	}
	for _, e := range list {
		if reflect.DeepEqual(e, v) {
			return list
		}
	}
	return append(list, v)
}

// pruneList is prune of a list, in place.
func pruneList(x []any) []any {
	out := x[:0]
	for _, e := range x {
		if s, ok := e.(string); ok { // kept as it is, not boxed again
			if s != "" {
				out = append(out, e)
			}
			continue
		}
		if pe, empty := prune(e); !empty {
			out = append(out, pe)
		}
	}
	return out
}

// prune removes nil and "" values, empty objects and empty lists, so that
// a missing source value never becomes null or "" in canonical data. It
// reports whether v itself is empty.
func prune(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case string:
		return x, x == ""
	case map[string]any:
		for k, e := range x {
			switch ev := e.(type) {
			case string: // the common case: no write back needed
				if ev == "" {
					delete(x, k)
				}
				continue
			case map[string]any: // pruned in place
				if _, empty := prune(ev); empty {
					delete(x, k)
				}
				continue
			case []any: // pruned in place; boxing it again would allocate
				if pl := pruneList(ev); len(pl) == 0 {
					delete(x, k)
				} else if len(pl) != len(ev) {
					x[k] = pl
				}
				continue
			}
			pe, empty := prune(e)
			if empty {
				delete(x, k)
			} else {
				x[k] = pe
			}
		}
		return x, len(x) == 0
	case []any:
		out := pruneList(x)
		return out, len(out) == 0
	case []string:
		out := make([]any, 0, len(x))
		for _, e := range x {
			if e != "" {
				out = append(out, e)
			}
		}
		return out, len(out) == 0
	}
	return v, false
}
