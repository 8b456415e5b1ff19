package schemas

import (
	"embed"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/xeipuuv/gojsonschema"
)

//go:embed *.json
var files embed.FS

// FS exposes the schema files, e.g. for docs and the API.
func FS() embed.FS { return files }

const baseURL = "https://crmhub.dev/schemas/"

// Violation is one way a document breaks its schema.
type Violation struct {
	Path    string // JSON path of the offending value, e.g. "emails.0"
	Message string
}

func (v Violation) String() string { return v.Path + ": " + v.Message }

var (
	once     sync.Once
	compiled map[string]*gojsonschema.Schema
	loadErr  error
)

func load() {
	compiled = map[string]*gojsonschema.Schema{}
	entries, err := files.ReadDir(".")
	if err != nil {
		loadErr = err
		return
	}
	common, err := files.ReadFile("common.v1.json")
	if err != nil {
		loadErr = err
		return
	}
	for _, e := range entries {
		name := e.Name()
		if name == "common.v1.json" {
			continue
		}
		b, err := files.ReadFile(name)
		if err != nil {
			loadErr = err
			return
		}
		sl := gojsonschema.NewSchemaLoader()
		if err := sl.AddSchema(baseURL+"common.v1.json", gojsonschema.NewBytesLoader(common)); err != nil {
			loadErr = fmt.Errorf("schema common.v1.json: %w", err)
			return
		}
		s, err := sl.Compile(gojsonschema.NewBytesLoader(b))
		if err != nil {
			loadErr = fmt.Errorf("schema %s: %w", name, err)
			return
		}
		compiled[strings.TrimSuffix(name, ".json")] = s
	}
}

// Names lists the compiled schemas, e.g. "customer.v1".
func Names() []string {
	once.Do(load)
	out := make([]string, 0, len(compiled))
	for k := range compiled {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Validate checks a JSON document against entity's schema at version
// ("customer", "v1"). It returns the violations (empty when valid) or an
// error when the schema is unknown or the document is not JSON.
func Validate(entity, version string, doc []byte) ([]Violation, error) {
	once.Do(load)
	if loadErr != nil {
		return nil, loadErr
	}
	s, ok := compiled[entity+"."+version]
	if !ok {
		return nil, fmt.Errorf("no schema %s.%s", entity, version)
	}
	return result(s.Validate(gojsonschema.NewBytesLoader(doc)))
}

// ValidateValue is Validate for an already decoded Go value (maps, slices,
// strings, numbers), which saves a JSON round trip in the mapping engine.
func ValidateValue(entity, version string, v any) ([]Violation, error) {
	once.Do(load)
	if loadErr != nil {
		return nil, loadErr
	}
	s, ok := compiled[entity+"."+version]
	if !ok {
		return nil, fmt.Errorf("no schema %s.%s", entity, version)
	}
	return result(s.Validate(gojsonschema.NewGoLoader(v)))
}

func result(r *gojsonschema.Result, err error) ([]Violation, error) {
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	if r.Valid() {
		return nil, nil
	}
	out := make([]Violation, 0, len(r.Errors()))
	for _, e := range r.Errors() {
		path := e.Field()
		// A missing required property is reported at its parent; name the
		// property itself so the message points at the field to fix.
		if e.Type() == "required" {
			if p, ok := e.Details()["property"].(string); ok {
				if path == "(root)" {
					path = p
				} else {
					path += "." + p
				}
			}
		}
		if e.Type() == "condition_then" || e.Type() == "number_all_of" {
			continue // summaries of the violations listed beside them
		}
		out = append(out, Violation{Path: path, Message: e.Description()})
	}
	return out, nil
}
