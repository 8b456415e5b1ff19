package mapping

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/mapping/internal/jsonfast"
	"github.com/crmhub/crmhub/mapping/internal/validate"
	"github.com/crmhub/crmhub/schemas"
)

// Input is one source record as a connector delivered it.
type Input struct {
	System, Entity, SourceID string
	UpdatedAt                time.Time
	Op                       string // hub.OpUpsert (default) or hub.OpDelete
	Payload                  []byte // a JSON object
}

// Output is the canonical record. Skip means drop_if matched: the record
// is left out on purpose (count it, do not dead-letter it). A delete has
// no Data.
type Output struct {
	Skip          bool
	Op            string
	Entity        string
	SchemaVersion string
	Data          []byte   // canonical JSON, valid against the schema
	Warnings      []string // values a cleaner could not read and left out (no values, only fields)
	// Dropped names, per value left out, the target field and the cleaner
	// that could not read it (the same cases as Warnings), for counting.
	// Drops inside map(), filter() and other nested calls count too.
	Dropped []Dropped
}

// Dropped is one source value a mapping left out because its cleaner
// (phone, email, country, gender, birth_date) could not read it.
type Dropped struct {
	Field string // target path
	Func  string // the cleaner
	// Reason is the cleaner and why, from a small fixed set ("phone:
	// unknown region", "phone: not a valid number"): a metric label,
	// never a value.
	Reason string
}

// RecordError is why one record could not be mapped; the pipeline sends the
// record to the dead-letter topic with it. Reasons never carry field values.
type RecordError struct {
	Mapping     string
	Version     int
	SourceID    string
	Field       string // target path, or drop_if / delete_if / payload
	ReasonClass string // hub.ReasonMapping or hub.ReasonValidation
	Reason      string
	Violations  []schemas.Violation // every schema violation, for validation errors
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("mapping %s v%d: record %q: %s: %s", e.Mapping, e.Version, e.SourceID, e.Field, e.Reason)
}

// LoadError is one problem in a mapping file, at the YAML line of the key.
type LoadError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *LoadError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// ErrLoad marks every load problem: errors.Is(err, mapping.ErrLoad).
var ErrLoad = errors.New("mapping load error")

func (e *LoadError) Is(target error) bool { return target == ErrLoad }

// Mapping is a compiled mapping file. It is immutable and safe for
// concurrent use.
type Mapping struct {
	file    string
	name    string
	version int
	system  string
	entity  string
	target  string
	// targetSystem is set on a reverse mapping: it reads the canonical
	// entity (a golden customer) and writes that system's entity.
	targetSystem  string
	schemaVersion string
	carryCustom   bool
	sourceFields  []string
	dropIf        *program
	deleteIf      *program
	fields        []*field
	tables        map[string]map[string]any
	used          map[string]bool // source fields the expressions read
	shape         *shape
	fast          *validate.Schema // compiled schema check, nil: gojsonschema only
	opts          []expr.Option
	noValidate    bool // benchmarks only: measure the engine without gojsonschema
	// funcs are the functions given to expr by name, for fastShape.
	funcs map[string]func(args ...any) (any, error)
	// needsEnv: a program runs on the VM or reads $env; without one,
	// Apply does not copy the record into the env map (see fastScope).
	needsEnv bool
}

type program struct {
	src  string
	prog *vm.Program
	fast *fastProg // nil: run on the VM
}

type field struct {
	target string
	line   int
	path   []segment
	expr   *program
	def    *program
	// required: a value a cleaner cannot read dead-letters the record
	// instead of being left out with a warning.
	required bool
}

// Name is the mapping's unique name.
func (m *Mapping) Name() string { return m.name }

// Version travels in the envelope as mapping_version.
func (m *Mapping) Version() int { return m.version }

// Source is the system and entity the mapping reads.
func (m *Mapping) Source() (system, entity string) { return m.system, m.entity }

// Target is the canonical entity and schema version the mapping writes.
func (m *Mapping) Target() (entity, schemaVersion string) { return m.target, m.schemaVersion }

// Reverse reports a reverse mapping (canonical entity -> system entity),
// used by write-back; its output is not validated against a schema.
func (m *Mapping) Reverse() bool { return m.targetSystem != "" }

// TargetSystem is the system a reverse mapping writes; empty otherwise.
func (m *Mapping) TargetSystem() string { return m.targetSystem }

// File is the path the mapping was loaded from.
func (m *Mapping) File() string { return m.file }

// LoadFile reads and compiles one mapping file.
func LoadFile(path string) (*Mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read mapping: %w", err)
	}
	return Parse(path, b)
}

// Parse compiles a mapping from its YAML text; name is the file path used
// in errors and to find table files next to it. Every problem in the file
// is reported (errors.Join of *LoadError).
func Parse(name string, data []byte) (*Mapping, error) {
	l := &loader{file: name, m: &Mapping{file: name, schemaVersion: hub.SchemaVersion, tables: map[string]map[string]any{}, used: map[string]bool{}}}
	l.load(data)
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	l.m.needsEnv = l.m.dropIf.needsEnv() || l.m.deleteIf.needsEnv()
	for _, f := range l.m.fields {
		l.m.needsEnv = l.m.needsEnv || f.expr.needsEnv() || f.def.needsEnv()
	}
	return l.m, nil
}

// needsEnv: p (nil: no program) runs on the VM or reads the env map, so
// Apply must build the env map for it.
func (p *program) needsEnv() bool {
	return p != nil && (p.fast == nil || p.fast.needsEnv)
}

type loader struct {
	file string
	m    *Mapping
	errs []error
}

func (l *loader) errorf(line int, field, format string, args ...any) {
	l.errs = append(l.errs, &LoadError{File: l.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

type kv struct {
	key  string
	line int
	val  *yaml.Node
}

func (l *loader) pairs(n *yaml.Node, where string) []kv {
	if n.Kind != yaml.MappingNode {
		l.errorf(n.Line, where, "want a map")
		return nil
	}
	out := make([]kv, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			l.errorf(k.Line, where, "keys must be plain text")
			continue
		}
		out = append(out, kv{k.Value, k.Line, n.Content[i+1]})
	}
	return out
}

func (l *loader) scalar(p kv, field string) (string, bool) {
	if p.val.Kind != yaml.ScalarNode {
		l.errorf(p.line, field, "want a single value")
		return "", false
	}
	return p.val.Value, true
}

func (l *loader) load(data []byte) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 1
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			if _, after, ok := strings.Cut(err.Error(), "line "); ok {
				fmt.Sscanf(after, "%d", &line)
			}
		}
		l.errorf(line, "", "not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	if len(doc.Content) == 0 {
		l.errorf(1, "", "empty mapping file")
		return
	}
	m := l.m
	var fieldsNode, defaultsNode, tablesNode *yaml.Node
	var fieldsLine, sourceLine, targetLine int
	var dropIf, deleteIf *kv
	seen := map[string]bool{}
	for _, p := range l.pairs(doc.Content[0], "") {
		seen[p.key] = true
		switch p.key {
		case "mapping":
			if s, ok := l.scalar(p, "mapping"); ok {
				if !validKey(strings.ReplaceAll(s, "-", "_")) {
					l.errorf(p.line, "mapping", "name %q must be letters, digits, _ or -", s)
				}
				m.name = s
			}
		case "version":
			if err := p.val.Decode(&m.version); err != nil || m.version < 1 {
				l.errorf(p.line, "version", "want an integer >= 1")
			}
		case "source":
			sourceLine = p.line
			for _, q := range l.pairs(p.val, "source") {
				switch q.key {
				case "system":
					m.system, _ = l.scalar(q, "source.system")
				case "entity":
					m.entity, _ = l.scalar(q, "source.entity")
				case "fields":
					if err := q.val.Decode(&m.sourceFields); err != nil {
						l.errorf(q.line, "source.fields", "want a list of source field names")
					}
				default:
					l.errorf(q.line, "source."+q.key, "unknown key (want system, entity, fields)")
				}
			}
		case "target":
			targetLine = p.line
			for _, q := range l.pairs(p.val, "target") {
				switch q.key {
				case "entity":
					m.target, _ = l.scalar(q, "target.entity")
				case "schema":
					m.schemaVersion, _ = l.scalar(q, "target.schema")
				case "system":
					m.targetSystem, _ = l.scalar(q, "target.system")
				default:
					l.errorf(q.line, "target."+q.key, "unknown key (want entity, schema; system for a reverse mapping)")
				}
			}
		case "unknown_fields":
			s, _ := l.scalar(p, "unknown_fields")
			switch s {
			case "ignore":
			case "custom":
				m.carryCustom = true
			default:
				l.errorf(p.line, "unknown_fields", "want ignore or custom, not %q", s)
			}
		case "drop_if":
			dropIf = &kv{p.key, p.line, p.val}
		case "delete_if":
			deleteIf = &kv{p.key, p.line, p.val}
		case "fields":
			fieldsNode, fieldsLine = p.val, p.line
		case "defaults":
			defaultsNode = p.val
		case "tables":
			tablesNode = p.val
		case "description", "doc":
		default:
			l.errorf(p.line, p.key, "unknown key (want mapping, version, source, target, unknown_fields, drop_if, delete_if, fields, defaults, tables, description)")
		}
	}
	for _, req := range []string{"mapping", "version", "source", "target", "fields"} {
		if !seen[req] {
			l.errorf(1, req, "missing")
		}
	}
	if m.targetSystem != "" {
		l.checkReverse(sourceLine)
	} else {
		if seen["source"] && (m.system == "" || m.entity == "") {
			l.errorf(sourceLine, "source", "want system and entity")
		}
		if m.target != "" {
			s, err := targetShape(m.target, m.schemaVersion)
			if err != nil {
				l.errorf(targetLine, "target", "%v", err)
			}
			m.shape = s
			m.fast = validate.For(m.target, m.schemaVersion)
		}
	}
	if seen["target"] && m.target == "" {
		l.errorf(targetLine, "target", "want entity")
	}
	if tablesNode != nil {
		l.loadTables(tablesNode)
	}
	l.buildOptions()
	if dropIf != nil {
		m.dropIf = l.compileScalar(*dropIf, "drop_if")
	}
	if deleteIf != nil {
		m.deleteIf = l.compileScalar(*deleteIf, "delete_if")
	}
	defaults := map[string]kv{}
	if defaultsNode != nil {
		for _, p := range l.pairs(defaultsNode, "defaults") {
			defaults[p.key] = p
		}
	}
	if fieldsNode != nil {
		ps := l.pairs(fieldsNode, "fields")
		if len(ps) == 0 {
			l.errorf(fieldsLine, "fields", "no fields")
		}
		for _, p := range ps {
			f := l.compileField(p)
			if d, ok := defaults[p.key]; ok {
				f.def = l.compileScalar(d, "defaults."+d.key)
				delete(defaults, p.key)
			}
			m.fields = append(m.fields, f)
		}
	}
	// A default for a target with no field expression is a constant field.
	if defaultsNode != nil {
		for _, p := range l.pairs(defaultsNode, "defaults") {
			if _, left := defaults[p.key]; left {
				f := l.compileField(kv{p.key, p.line, &yaml.Node{Kind: yaml.ScalarNode, Value: "nil"}})
				f.def = l.compileScalar(p, "defaults."+p.key)
				m.fields = append(m.fields, f)
			}
		}
	}
}

// checkReverse checks what a reverse mapping needs: it reads a canonical
// entity (source has no system) and writes a system's entity.
func (l *loader) checkReverse(sourceLine int) {
	m := l.m
	if m.system != "" {
		l.errorf(sourceLine, "source.system", "a reverse mapping (target.system is set) reads the canonical entity: leave source.system out")
	}
	if m.entity != hub.EntityCustomer {
		l.errorf(sourceLine, "source.entity", "a reverse mapping reads the canonical %s, not %q", hub.EntityCustomer, m.entity)
	}
	if m.carryCustom {
		l.errorf(sourceLine, "unknown_fields", "a reverse mapping writes only the columns it names: want ignore")
	}
}

func (l *loader) loadTables(n *yaml.Node) {
	for _, p := range l.pairs(n, "tables") {
		where := "tables." + p.key
		t := map[string]any{}
		var fileRef struct {
			File string `yaml:"file"`
		}
		if p.val.Kind == yaml.MappingNode && len(p.val.Content) == 2 && p.val.Content[0].Value == "file" {
			_ = p.val.Decode(&fileRef)
			path := fileRef.File
			if !filepath.IsAbs(path) {
				path = filepath.Join(filepath.Dir(l.file), path)
			}
			if err := readTableCSV(path, t); err != nil {
				l.errorf(p.line, where, "%v", err)
				continue
			}
		} else if p.val.Kind == yaml.MappingNode {
			for _, q := range l.pairs(p.val, where) {
				var v any
				if err := q.val.Decode(&v); err != nil {
					l.errorf(q.line, where+"."+q.key, "bad value: %v", err)
				}
				t[q.key] = v
			}
		} else {
			l.errorf(p.line, where, "want a map of key: value or {file: name.csv}")
			continue
		}
		l.m.tables[p.key] = t
	}
}

func readTableCSV(path string, t map[string]any) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("table file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.Comment = '#'
	header := true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("table file %s: %w", filepath.Base(path), err)
		}
		if header {
			header = false
			continue
		}
		if len(rec) < 2 {
			line, _ := r.FieldPos(0)
			return fmt.Errorf("table file %s:%d: want two columns key,value", filepath.Base(path), line)
		}
		t[strings.TrimSpace(rec[0])] = strings.TrimSpace(rec[1])
	}
}

// builtinNames are expr's own functions, which stay available.
var builtinNames = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range builtin.Builtins {
		m[f.Name] = true
	}
	return m
}()

func (l *loader) buildOptions() {
	m := l.m
	env := map[string]any{"record": map[string]any{}, "meta": map[string]any{}, sinkVar: (*dropSink)(nil)}
	if m.targetSystem != "" {
		env["golden_id"] = ""
	}
	for _, f := range m.sourceFields {
		if _, reserved := env[f]; !reserved {
			env[f] = nil
		}
	}
	// expr.Env makes the env strict; undeclared source fields are allowed
	// (as nil) unless the mapping lists its source fields.
	opts := []expr.Option{expr.Env(env)}
	m.funcs = map[string]func(args ...any) (any, error){}
	if len(m.sourceFields) == 0 {
		opts = append(opts, expr.AllowUndefinedVariables())
	}
	for _, f := range registry {
		switch {
		case f.Name == "lookup":
			tables := m.tables
			lookup := func(args ...any) (any, error) {
				t := tables[args[0].(string)]
				if args[1] == nil {
					return nil, nil
				}
				k, _, err := text(args[1])
				if err != nil {
					return nil, fmt.Errorf("lookup key: %w", err)
				}
				if v, ok := t[strings.TrimSpace(k)]; ok {
					return v, nil
				}
				if len(args) > 2 {
					return args[2], nil
				}
				return nil, fmt.Errorf("lookup: key is not in table %s", args[0])
			}
			m.funcs["lookup"] = lookup
			opts = append(opts, expr.Function("lookup", lookup, f.types...))
		case f.fn != nil:
			m.funcs[f.Name] = f.fn
			opts = append(opts, expr.Function(f.Name, f.fn, f.types...))
			if f.nilOnInvalid {
				twin := sinkTwin(f.Name, f.raw)
				m.funcs[sinkPrefix+f.Name] = twin
				opts = append(opts, expr.Function(sinkPrefix+f.Name, twin, sinkTypes(f.types)...))
			}
		}
	}
	opts = append(opts, expr.Patch(sinkPatcher{}))
	m.opts = opts
}

// compileScalar compiles a YAML scalar as an expression. YAML numbers and
// booleans are expressions too (line_no: 1).
func (l *loader) compileScalar(p kv, where string) *program {
	src, ok := l.scalar(p, where)
	if !ok {
		return nil
	}
	if p.val.Tag == "!!null" {
		src = "nil"
	}
	prog, err := l.compile(src, p.line, where)
	if err != nil {
		return nil
	}
	return prog
}

func (l *loader) compileField(p kv) *field {
	f := &field{target: p.key, line: p.line}
	segs, err := parsePath(p.key)
	if err != nil {
		l.errorf(p.line, "fields."+p.key, "%v", err)
	} else {
		f.path = segs
		if l.m.targetSystem != "" && (len(segs) != 1 || segs[0].index != -1 || segs[0].append) {
			l.errorf(p.line, "fields."+p.key, "a reverse mapping writes plain column names, not paths")
		}
		if l.m.shape != nil {
			if err := l.m.shape.checkPath(segs); err != nil {
				l.errorf(p.line, "fields."+p.key, "%v", err)
			}
		}
	}
	if p.val.Kind == yaml.MappingNode {
		// The long form: {expr: ..., required: true}.
		var exprKV *kv
		for _, q := range l.pairs(p.val, "fields."+p.key) {
			switch q.key {
			case "expr":
				exprKV = &kv{p.key, q.line, q.val}
			case "required":
				if err := q.val.Decode(&f.required); err != nil {
					l.errorf(q.line, "fields."+p.key+".required", "want true or false")
				}
			default:
				l.errorf(q.line, "fields."+p.key+"."+q.key, "unknown key (want expr, required)")
			}
		}
		if exprKV == nil {
			l.errorf(p.line, "fields."+p.key, "want expr: in the long form of a field")
			return f
		}
		p = *exprKV
	}
	f.expr = l.compileScalar(p, "fields."+p.key)
	return f
}

// compile checks and compiles one expression: expr's own checks (syntax,
// arity, literal types), then unknown functions and the registry's
// literal-argument checks, which expr cannot see.
func (l *loader) compile(src string, line int, where string) (*program, error) {
	code := rewriteMapLines(src)
	tree, err := parser.Parse(code)
	if err != nil {
		l.errorf(line, where, "%s", exprMsg(err))
		return nil, err
	}
	v := &checker{l: l, line: line, where: where, idents: map[string]int{}}
	ast.Walk(&tree.Node, v)
	for name, n := range v.idents {
		if n > v.calls[name] {
			l.m.used[name] = true
		}
	}
	if v.failed {
		return nil, errors.New("check failed")
	}
	opts := l.m.opts
	if v.shadowed {
		opts = append(opts[:len(opts):len(opts)], expr.Patch(&shadowPatcher{replaced: map[ast.Node]*ast.IdentifierNode{}}))
	}
	prog, err := expr.Compile(code, opts...)
	if err != nil {
		l.errorf(line, where, "%s", exprMsg(err))
		return nil, err
	}
	return &program{src: src, prog: prog, fast: fastShape(prog, l.m.funcs)}, nil
}

func exprMsg(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fmt.Sprintf("%s (column %d)", fe.Message, fe.Column+1)
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

type checker struct {
	l      *loader
	line   int
	where  string
	failed bool
	idents map[string]int // identifiers seen, including function names
	calls  map[string]int // identifiers seen as the callee of a call
	// shadowed: an identifier has a function's name (a source field
	// "type", "date" or "email"); see shadowPatcher.
	shadowed bool
}

// shadowPatcher makes identifiers that share a name with a function read
// the source field: `email(email)`, `type == "B2B"`. expr would resolve
// them to the function, so each becomes $env["name"]; the walk is
// post-order, so a call's callee is replaced first and restored when its
// call node is visited.
type shadowPatcher struct {
	replaced map[ast.Node]*ast.IdentifierNode
}

func (p *shadowPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if registry[n.Value] != nil || builtinNames[n.Value] {
			r := &ast.MemberNode{Node: &ast.IdentifierNode{Value: "$env"}, Property: &ast.StringNode{Value: n.Value}}
			ast.Patch(node, r)
			p.replaced[r] = n
		}
	case *ast.CallNode:
		if orig, ok := p.replaced[n.Callee]; ok {
			n.Callee = orig
		}
	}
}

func (c *checker) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		c.idents[n.Value]++
		if registry[n.Value] != nil || builtinNames[n.Value] {
			c.shadowed = true
		}
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "record" {
			if s, ok := n.Property.(*ast.StringNode); ok {
				c.l.m.used[s.Value] = true
			}
		}
	case *ast.BuiltinNode:
		// Our functions that share a name with an expr built-in (date,
		// trim, join …) parse as built-ins; expr.Function still wins at
		// compile time, so check them here as well.
		if f := registry[n.Name]; f != nil && f.check != nil {
			if err := f.check(c.l.m, n.Arguments); err != nil {
				c.failed = true
				c.l.errorf(c.line, c.where, "%v", err)
			}
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		if c.calls == nil {
			c.calls = map[string]int{}
		}
		c.calls[id.Value]++
		f := registry[id.Value]
		if f == nil {
			if !builtinNames[id.Value] {
				c.failed = true
				c.l.errorf(c.line, c.where, "unknown function %s (see `crmhub mapping docs`)", id.Value)
			}
			return
		}
		if f.check != nil {
			if err := f.check(c.l.m, n.Arguments); err != nil {
				c.failed = true
				c.l.errorf(c.line, c.where, "%v", err)
			}
		}
	}
}

// rewriteMapLines turns map_lines(list, {...}) into expr's map(list, ({...})):
// in expr a bare {...} as second argument of map is a closure, so the
// object literal has to be wrapped.
func rewriteMapLines(src string) string {
	const name = "map_lines("
	for {
		i := indexOutsideStrings(src, name)
		if i < 0 {
			return src
		}
		if i > 0 && (validKey(src[i-1:i]) || src[i-1] == '.') {
			return src // part of a longer name; leave it to the checker
		}
		start := i + len(name)
		depth, comma, end := 0, -1, -1
		var quote byte
	scan:
		for j := start; j < len(src); j++ {
			ch := src[j]
			switch {
			case quote != 0:
				if ch == '\\' {
					j++
				} else if ch == quote {
					quote = 0
				}
			case ch == '"' || ch == '\'' || ch == '`':
				quote = ch
			case ch == '(' || ch == '[' || ch == '{':
				depth++
			case ch == ')' || ch == ']' || ch == '}':
				if depth == 0 {
					end = j
					break scan
				}
				depth--
			case ch == ',' && depth == 0 && comma < 0:
				comma = j
			}
		}
		if end < 0 || comma < 0 {
			return src[:i] + "map(" + src[start:] // let expr report the syntax
		}
		src = src[:i] + "map(" + src[start:comma] + ", (" + strings.TrimSpace(src[comma+1:end]) + "))" + src[end+1:]
	}
}

func indexOutsideStrings(s, sub string) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == '\\' {
				i++
			} else if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'' || ch == '`':
			quote = ch
		case strings.HasPrefix(s[i:], sub):
			return i
		}
	}
	return -1
}

// run evaluates one program outside Apply (examples, tests).
func run(p *program, env map[string]any) (any, error) {
	return expr.Run(p.prog, env)
}

// applyState is what one Apply needs besides the record and the document,
// reused through a pool: the expression environment, meta, a VM and the
// encoding buffer. Nothing of it outlives Apply: the document is encoded
// before Apply returns and Output holds only the encoded bytes.
type applyState struct {
	env   map[string]any
	meta  map[string]any
	vm    vm.VM
	buf   []byte
	sink  dropSink
	args  [maxFastArgs]any // argument buffer of fast programs
	keys  jsonfast.Keys    // the record keys seen, shared by the records decoded with this state
	scope fastScope        // what direct programs read, set by fillScope
	// system and entity of the last record, boxed for meta
	system, entity       string
	systemBox, entityBox any
	doc                  map[string]any     // the document, cleared after each Apply
	rec                  map[string]any     // the decoded record, cleared after each Apply
	orders               jsonfast.KeyOrders // sorted keys of the documents encoded with this state
}

var statePool = sync.Pool{New: func() any {
	return &applyState{env: make(map[string]any, 32), meta: make(map[string]any, 4), buf: make([]byte, 0, 1024)}
}}

func (st *applyState) run(p *program) (any, error) {
	if p.fast != nil {
		return p.fast.evalScope(&st.scope, st.args[:])
	}
	return st.vm.Run(p.prog, st.env)
}

// fill sets the expression environment for record rec of in.
func (st *applyState) fill(m *Mapping, in Input, rec map[string]any) {
	st.fillScope(m, in, rec, true)
}

// fillScope sets what the programs read for record rec of in. With env:
// the env map the VM needs (the record's fields, then meta, record, the
// sink and golden_id over them). Without: only meta and the sink, and
// direct programs look names up in rec and the state (fastScope), which
// answers as that map would, without copying every field into it.
func (st *applyState) fillScope(m *Mapping, in Input, rec map[string]any, env bool) {
	meta := st.meta
	// A source's system and entity are the same in every record: box
	// them once per state, not once per record.
	if st.system != in.System || st.systemBox == nil {
		st.system, st.systemBox = in.System, in.System
	}
	if st.entity != in.Entity || st.entityBox == nil {
		st.entity, st.entityBox = in.Entity, in.Entity
	}
	meta["system"], meta["entity"], meta["source_id"], meta["updated_at"] = st.systemBox, st.entityBox, in.SourceID, nil
	if !in.UpdatedAt.IsZero() {
		meta["updated_at"] = in.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	st.sink = dropSink{drops: st.sink.drops[:0]}
	st.scope = fastScope{rec: rec, meta: meta, sink: &st.sink}
	if m.targetSystem != "" {
		// A reverse mapping reads a golden customer: SourceID is its id.
		st.scope.goldenID, st.scope.hasGolden = in.SourceID, true
	}
	if !env {
		return
	}
	e := st.env
	for k, v := range rec {
		e[k] = v
	}
	e["record"], e["meta"] = rec, meta
	e[sinkVar] = &st.sink
	if m.targetSystem != "" {
		e["golden_id"] = in.SourceID
	}
	st.scope.env = e
}

// Apply maps one source record. It returns a *RecordError when the record
// cannot be mapped or breaks the canonical schema.
func (m *Mapping) Apply(in Input) (Output, error) {
	out := Output{Op: in.Op, Entity: m.target, SchemaVersion: m.schemaVersion}
	if out.Op == "" {
		out.Op = hub.OpUpsert
	}
	if out.Op == hub.OpDelete {
		return out, nil
	}
	if out.Op != hub.OpUpsert {
		return out, m.recErr(in, "op", hub.ReasonMapping, fmt.Sprintf("unknown op %q", in.Op))
	}
	st := statePool.Get().(*applyState)
	defer func() {
		clear(st.env)
		clear(st.meta)
		st.scope = fastScope{} // do not keep the record alive in the pool
		if len(st.doc) > 128 {
			st.doc = nil // a rare wide document: do not keep its table
		} else {
			clear(st.doc)
		}
		if len(st.rec) > 128 {
			st.rec = nil // nor a wide record's
		} else {
			clear(st.rec)
		}
		if cap(st.buf) <= 64<<10 {
			statePool.Put(st)
		}
	}()
	if st.rec == nil {
		st.rec = make(map[string]any, 32)
	}
	rec, ok := jsonfast.DecodeObject(in.Payload, &st.keys, st.rec)
	if !ok {
		var err error
		if rec, err = decodeRecord(in.Payload); err != nil {
			return out, m.recErr(in, "payload", hub.ReasonMapping, err.Error())
		}
	}
	st.fillScope(m, in, rec, m.needsEnv)

	if m.dropIf != nil {
		st.sink.field = "drop_if"
		v, err := st.run(m.dropIf)
		if err != nil {
			return out, m.recErr(in, "drop_if", hub.ReasonMapping, runMsg(err))
		}
		_ = m.takeDrops(in, &out, &field{target: "drop_if"}, &st.sink)
		if b, _ := v.(bool); b {
			out.Skip = true
			return out, nil
		}
	}
	if m.deleteIf != nil {
		st.sink.field = "delete_if"
		v, err := st.run(m.deleteIf)
		if err != nil {
			return out, m.recErr(in, "delete_if", hub.ReasonMapping, runMsg(err))
		}
		_ = m.takeDrops(in, &out, &field{target: "delete_if"}, &st.sink)
		if b, _ := v.(bool); b {
			out.Op = hub.OpDelete
			return out, nil
		}
	}
	// The document's top-level map is reused: nothing keeps it after
	// Apply (Output holds the encoded bytes, errors hold text).
	if st.doc == nil {
		st.doc = make(map[string]any, len(m.fields)+1)
	}
	doc := st.doc
	for _, f := range m.fields {
		st.sink.field = f.target
		v, err := st.run(f.expr)
		if err != nil {
			return out, m.recErr(in, f.target, hub.ReasonMapping, runMsg(err))
		}
		if err := m.takeDrops(in, &out, f, &st.sink); err != nil {
			return out, err
		}
		if isNil(v) && f.def != nil {
			if v, err = st.run(f.def); err != nil {
				return out, m.recErr(in, f.target, hub.ReasonMapping, "default: "+runMsg(err))
			}
		}
		if isNil(v) {
			continue
		}
		if err := setPath(doc, f.path, v); err != nil {
			return out, m.recErr(in, f.target, hub.ReasonMapping, err.Error())
		}
	}
	if m.targetSystem != "" {
		// System columns: no canonical schema, no pruning of nested
		// values (a JSON column may want them as they are).
		data, err := marshal(doc)
		if err != nil {
			return out, m.recErr(in, "", hub.ReasonMapping, fmt.Sprintf("encode: %v", err))
		}
		out.Data = data
		return out, nil
	}
	if m.carryCustom {
		custom, _ := doc["custom"].(map[string]any)
		for k, v := range rec {
			if m.used[k] {
				continue
			}
			if custom == nil {
				custom = map[string]any{}
			}
			if _, set := custom[k]; !set {
				custom[k] = v
			}
		}
		if custom != nil {
			doc["custom"] = custom
		}
	}
	prune(doc)
	data, utf8OK, ok := jsonfast.Append(st.buf[:0], doc, &st.orders)
	st.buf = data[:0]
	if !ok {
		// A value the fast encoder does not handle (NaN, a Go type from
		// an expr built-in): the reflective path decides, as before.
		return m.finishSlow(in, out, doc)
	}
	if m.noValidate || (m.fast != nil && m.fast.CheckUTF8(doc, utf8OK) == validate.Valid) {
		out.Data = bytes.Clone(data)
		return out, nil
	}
	// Invalid, or not provably valid: gojsonschema, the validator of
	// record, judges the very bytes that would be published.
	viol, err := schemas.Validate(m.target, m.schemaVersion, data)
	if err != nil {
		return out, m.recErr(in, "", hub.ReasonValidation, err.Error())
	}
	if len(viol) > 0 {
		return out, m.violations(in, viol)
	}
	out.Data = bytes.Clone(data)
	return out, nil
}

// finishSlow validates and encodes doc through reflection: gojsonschema's
// Go loader, then encoding/json.
func (m *Mapping) finishSlow(in Input, out Output, doc map[string]any) (Output, error) {
	var err error
	if m.noValidate {
		out.Data, err = marshal(doc)
		return out, err
	}
	viol, err := schemas.ValidateValue(m.target, m.schemaVersion, doc)
	if err != nil {
		return out, m.recErr(in, "", hub.ReasonValidation, err.Error())
	}
	if len(viol) > 0 {
		return out, m.violations(in, viol)
	}
	out.Data, err = marshal(doc)
	if err != nil {
		return out, m.recErr(in, "", hub.ReasonMapping, fmt.Sprintf("encode: %v", err))
	}
	return out, nil
}

func (m *Mapping) violations(in Input, viol []schemas.Violation) *RecordError {
	msgs := make([]string, 0, len(viol))
	field := ""
	for _, v := range viol {
		if strings.HasPrefix(v.Message, "Must validate \"") {
			continue // if/then/else summary of the violations beside it
		}
		msgs = append(msgs, v.String())
		if field == "" && v.Path != "(root)" {
			field = v.Path
		}
	}
	if field == "" {
		field = viol[0].Path
	}
	re := m.recErr(in, field, hub.ReasonValidation, strings.Join(msgs, "; "))
	re.Violations = viol
	return re
}

// takeDrops moves the drops recorded while evaluating field f into out (a
// warning and a count each), or, for a required field, turns the first
// into a record error naming the field.
func (m *Mapping) takeDrops(in Input, out *Output, f *field, s *dropSink) error {
	if len(s.drops) == 0 {
		return nil
	}
	defer func() { s.drops = s.drops[:0] }()
	if f.required {
		return m.recErr(in, f.target, hub.ReasonMapping, s.drops[0].Reason+" (the field is required)")
	}
	for _, d := range s.drops {
		out.Warnings = append(out.Warnings, dropMessage(d))
		out.Dropped = append(out.Dropped, d)
	}
	return nil
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && s == ""
}

func (m *Mapping) recErr(in Input, field, class, reason string) *RecordError {
	return &RecordError{Mapping: m.name, Version: m.version, SourceID: in.SourceID, Field: field, ReasonClass: class, Reason: reason}
}

// runMsg keeps expr's message and position, not its multi-line snippet
// (which would repeat the expression, and with it no data, but noise).
func runMsg(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fe.Message
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

func decodeRecord(b []byte) (map[string]any, error) {
	v, err := decodeJSON(b)
	if err != nil {
		return nil, fmt.Errorf("payload is not JSON: %w", err)
	}
	rec, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("payload is not a JSON object")
	}
	return rec, nil
}

// decodeJSON is the decoder of record (jsonfast.Decode): integers as int,
// other numbers as float64.
func decodeJSON(b []byte) (any, error) { return jsonfast.Decode(b) }

// marshal is the encoder of record (jsonfast.Marshal): json.Marshal
// without HTML escaping.
func marshal(v any) ([]byte, error) { return jsonfast.Marshal(v) }
