package mapping

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/crmhub/crmhub/schemas"
)

// shape is what the canonical schema allows at a target path, read once
// from the schema files so that a misspelt target is a load error rather
// than a validation error on every record.
type shape struct {
	props map[string]*shape // nil: any key allowed
	items *shape
	array bool
}

var (
	shapesMu sync.Mutex
	shapes   = map[string]*shape{}
)

func targetShape(entity, version string) (*shape, error) {
	shapesMu.Lock()
	defer shapesMu.Unlock()
	key := entity + "." + version
	if s, ok := shapes[key]; ok {
		return s, nil
	}
	fs := schemas.FS()
	b, err := fs.ReadFile(key + ".json")
	if err != nil {
		return nil, fmt.Errorf("no canonical schema %s (have %s)", key, strings.Join(schemas.Names(), ", "))
	}
	common, err := fs.ReadFile("common." + version + ".json")
	if err != nil {
		common = []byte(`{}`)
	}
	var doc, defs map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("schema %s: %w", key, err)
	}
	_ = json.Unmarshal(common, &defs)
	s := buildShape(doc, defs)
	shapes[key] = s
	return s, nil
}

func buildShape(n map[string]any, common map[string]any) *shape {
	if ref, ok := n["$ref"].(string); ok {
		if i := strings.Index(ref, "#/definitions/"); i >= 0 {
			if d, ok := common["definitions"].(map[string]any); ok {
				if def, ok := d[ref[i+len("#/definitions/"):]].(map[string]any); ok {
					return buildShape(def, common)
				}
			}
		}
		return &shape{}
	}
	s := &shape{}
	if it, ok := n["items"].(map[string]any); ok {
		s.array = true
		s.items = buildShape(it, common)
	}
	if props, ok := n["properties"].(map[string]any); ok && n["additionalProperties"] == false {
		s.props = map[string]*shape{}
		for k, v := range props {
			if pm, ok := v.(map[string]any); ok {
				s.props[k] = buildShape(pm, common)
			}
		}
	}
	return s
}

// checkPath tells whether segs can exist in the schema.
func (s *shape) checkPath(segs []segment) error {
	cur := s
	for _, seg := range segs {
		if cur.props == nil {
			return nil // an open object (custom, consent): anything goes
		}
		next, ok := cur.props[seg.key]
		if !ok {
			known := make([]string, 0, len(cur.props))
			for k := range cur.props {
				known = append(known, k)
			}
			sort.Strings(known)
			return fmt.Errorf("%q is not a field of the target (fields: %s)", seg.key, strings.Join(known, ", "))
		}
		if seg.append || seg.index >= 0 {
			if !next.array {
				return fmt.Errorf("%q is not a list in the target", seg.key)
			}
			next = next.items
		}
		cur = next
	}
	return nil
}
