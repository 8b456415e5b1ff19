package mapping

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// Most field programs are a field, a constant, library calls on fields
// and constants (phone(phone, coalesce(country(country), "DE")),
// lower(trim(email))), or a condition choosing between such calls
// (kind == "P" ? title(first_name) : nil). For those the VM's per-run
// setup (an argument buffer allocated on every Run, the dispatch loop, the
// deferred recover) costs more than the functions themselves, so they are
// evaluated directly, as a tree. The tree is read off expr's own bytecode,
// not re-derived from the source: only programs made of the opcodes
// handled below qualify, and each node is evaluated as the VM would (the
// same env lookups, runtime.Fetch/Equal/IsNil, the same function values,
// the same type assertions, so the same panics, turned into the same
// *file.Error message). Anything else runs on the VM.

// fastArg is one value pushed by a load sequence: a constant, an env
// variable or the env itself, then zero or more runtime.Fetch steps.
type fastArg struct {
	kind  fastKind
	res   reservedKey // fastEnvKey: which of the env's own names key is
	val   any         // fastConst
	key   string      // fastEnvKey
	fetch []any       // keys applied with runtime.Fetch, in order
}

// reservedKey names the env entries that are not record fields (see
// applyState.fill, which sets them after the fields, so they win).
type reservedKey uint8

const (
	resNone reservedKey = iota
	resRecord
	resMeta
	resSink
	resGoldenID
)

func reservedOf(key string) reservedKey {
	switch key {
	case "record":
		return resRecord
	case "meta":
		return resMeta
	case sinkVar:
		return resSink
	case "golden_id":
		return resGoldenID
	}
	return resNone
}

// fastScope is what a direct program reads names from: the env map the
// VM gets, or, without building that map, the record and the state's
// own entries (rec, meta, sink, golden id) looked up as fill would have
// put them into the env.
type fastScope struct {
	env       map[string]any // set: look everything up here
	rec, meta map[string]any
	sink      *dropSink
	goldenID  any
	hasGolden bool // a reverse mapping: golden_id is the source id, not a field
}

func (s *fastScope) lookup(a *fastArg) any {
	if s.env != nil {
		return s.env[a.key]
	}
	switch a.res {
	case resRecord:
		return s.rec
	case resMeta:
		return s.meta
	case resSink:
		return s.sink
	case resGoldenID:
		if s.hasGolden {
			return s.goldenID
		}
	}
	return s.rec[a.key]
}

type fastKind uint8

const (
	fastConst fastKind = iota
	fastEnvKey
	fastEnv
)

// fastOp is what a node of a direct program does; each is one opcode (or
// one jump pattern) of expr's VM.
type fastOp uint8

const (
	opLoad     fastOp = iota // arg
	opCall                   // fn(kids...): OpCall0-3
	opDeref                  // OpDeref
	opFetch                  // runtime.Fetch(kids[0], key): OpFetch on a computed value
	opEqual                  // runtime.Equal: OpEqual
	opEqualStr               // OpEqualString
	opEqualInt               // OpEqualInt
	opNot                    // OpNot
	opCompare                // cmp(kids[0], kids[1]): OpLess, OpMore, ...
	opMatches                // OpMatchesConst
	opBuiltin1               // OpCallBuiltin1 (len, int, string, ...)
	opCond                   // kids[0] ? kids[1] : kids[2]
	opAnd                    // kids[0] && kids[1]
	opOr                     // kids[0] || kids[1]
	opCoalesce               // kids[0] ?? kids[1]
)

type fastNode struct {
	op   fastOp
	arg  fastArg                        // opLoad
	key  any                            // opFetch
	fn   func(args ...any) (any, error) // opCall
	fn1  func(any) any                  // opBuiltin1
	cmp  func(a, b any) bool            // opCompare
	re   *regexp.Regexp                 // opMatches
	kids []*fastNode
}

// fastProg is a program evaluated without the VM.
type fastProg struct {
	root *fastNode
	// needsEnv: the program reads the env map itself ($env), so it needs
	// the map the VM gets.
	needsEnv bool
}

// maxFastArgs is the size of the argument buffer in applyState: the
// arguments of every call on the way from the root to the deepest one
// (a call's arguments take len(kids) slots, its nested calls the slots
// after them). Programs needing more run on the VM.
const maxFastArgs = 16

// fastShape returns the direct evaluation of prog, or nil when prog uses
// anything but the opcodes and patterns handled here or calls a function
// not in funcs.
func fastShape(prog *vm.Program, funcs map[string]func(args ...any) (any, error)) *fastProg {
	p := &fastParser{prog: prog, funcs: funcs}
	for _, op := range prog.Bytecode {
		if op >= vm.OpCall0 && op <= vm.OpCall3 {
			p.names = callNames(prog)
			break
		}
	}
	nodes, ok := p.parse(0, len(prog.Bytecode))
	if !ok || len(nodes) != 1 || bufNeed(nodes[0]) > maxFastArgs {
		return nil
	}
	return &fastProg{root: nodes[0], needsEnv: usesEnv(nodes[0])}
}

// callNames maps the position of each OpCall0-3 in prog to the name of
// the function it calls. The function table is not exported; its names
// are, through the disassembly ("pos\tOpCallN\t<idx>\tname").
func callNames(prog *vm.Program) map[int]string {
	var b bytes.Buffer
	prog.DisassembleWriter(&b)
	names := map[int]string{}
	for _, line := range strings.Split(b.String(), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 || !strings.HasPrefix(f[1], "OpCall") {
			continue
		}
		pos, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		names[pos] = f[3]
	}
	return names
}

type fastParser struct {
	prog  *vm.Program
	funcs map[string]func(args ...any) (any, error)
	names map[int]string
}

// parse reads code[from:to] as a sequence of complete expressions and
// returns the values it leaves on the stack; jumps must land inside it.
func (p *fastParser) parse(from, to int) ([]*fastNode, bool) {
	code, argOf := p.prog.Bytecode, p.prog.Arguments
	var st []*fastNode
	pop := func() *fastNode {
		n := st[len(st)-1]
		st = st[:len(st)-1]
		return n
	}
	leaf := func(a fastArg) { st = append(st, &fastNode{op: opLoad, arg: a}) }
	// single parses code[a:b] as exactly one expression.
	single := func(a, b int) (*fastNode, bool) {
		if a >= b {
			return nil, false
		}
		ns, ok := p.parse(a, b)
		if !ok || len(ns) != 1 {
			return nil, false
		}
		return ns[0], true
	}
	for i := from; i < to; i++ {
		a := argOf[i]
		switch op := code[i]; op {
		case vm.OpPush:
			leaf(fastArg{kind: fastConst, val: p.prog.Constants[a]})
		case vm.OpInt:
			leaf(fastArg{kind: fastConst, val: a})
		case vm.OpNil:
			leaf(fastArg{kind: fastConst, val: nil})
		case vm.OpTrue:
			leaf(fastArg{kind: fastConst, val: true})
		case vm.OpFalse:
			leaf(fastArg{kind: fastConst, val: false})
		case vm.OpLoadFast:
			k, ok := p.prog.Constants[a].(string)
			if !ok {
				return nil, false
			}
			leaf(fastArg{kind: fastEnvKey, key: k, res: reservedOf(k)})
		case vm.OpLoadEnv:
			leaf(fastArg{kind: fastEnv})
		case vm.OpDeref:
			if len(st) == 0 {
				return nil, false
			}
			top := st[len(st)-1]
			if top.op == opLoad && top.arg.kind == fastConst && top.arg.fetch == nil && derefIdentity(top.arg.val) {
				continue // a constant of a plain type is its own dereference
			}
			st[len(st)-1] = &fastNode{op: opDeref, kids: []*fastNode{top}}
		case vm.OpFetch:
			// The key must be a constant just pushed.
			n := len(st)
			if n < 2 || st[n-1].op != opLoad || st[n-1].arg.kind != fastConst || st[n-1].arg.fetch != nil {
				return nil, false
			}
			key := pop().arg.val
			base := pop()
			if ks, ok := key.(string); ok && base.op == opLoad && base.arg.kind == fastEnv && base.arg.fetch == nil {
				// $env["name"] (a field shadowed by a function's name) is
				// the env entry name; fetch() reads a map so.
				base.arg = fastArg{kind: fastEnvKey, key: ks, res: reservedOf(ks)}
				st = append(st, base)
			} else if base.op == opLoad {
				base.arg.fetch = append(base.arg.fetch, key)
				st = append(st, base)
			} else {
				st = append(st, &fastNode{op: opFetch, key: key, kids: []*fastNode{base}})
			}
		case vm.OpCall0, vm.OpCall1, vm.OpCall2, vm.OpCall3:
			n := int(op - vm.OpCall0)
			fn := p.funcs[p.names[i]]
			if fn == nil || len(st) < n {
				return nil, false
			}
			kids := append([]*fastNode(nil), st[len(st)-n:]...)
			st = st[:len(st)-n]
			st = append(st, &fastNode{op: opCall, fn: fn, kids: kids})
		case vm.OpEqual, vm.OpEqualString, vm.OpEqualInt, vm.OpLess, vm.OpMore, vm.OpLessOrEqual, vm.OpMoreOrEqual:
			if len(st) < 2 {
				return nil, false
			}
			r := pop()
			l := pop()
			nd := &fastNode{kids: []*fastNode{l, r}}
			switch op {
			case vm.OpEqual:
				nd.op = opEqual
			case vm.OpEqualString:
				nd.op = opEqualStr
			case vm.OpEqualInt:
				nd.op = opEqualInt
			case vm.OpLess:
				nd.op, nd.cmp = opCompare, runtime.Less
			case vm.OpMore:
				nd.op, nd.cmp = opCompare, runtime.More
			case vm.OpLessOrEqual:
				nd.op, nd.cmp = opCompare, runtime.LessOrEqual
			case vm.OpMoreOrEqual:
				nd.op, nd.cmp = opCompare, runtime.MoreOrEqual
			}
			st = append(st, nd)
		case vm.OpNot:
			if len(st) < 1 {
				return nil, false
			}
			st = append(st, &fastNode{op: opNot, kids: []*fastNode{pop()}})
		case vm.OpMatchesConst:
			re, ok := p.prog.Constants[a].(*regexp.Regexp)
			if !ok || len(st) < 1 {
				return nil, false
			}
			st = append(st, &fastNode{op: opMatches, re: re, kids: []*fastNode{pop()}})
		case vm.OpCallBuiltin1:
			if a < 0 || a >= len(builtin.Builtins) || builtin.Builtins[a].Fast == nil || len(st) < 1 {
				return nil, false
			}
			st = append(st, &fastNode{op: opBuiltin1, fn1: builtin.Builtins[a].Fast, kids: []*fastNode{pop()}})
		case vm.OpJumpIfFalse, vm.OpJumpIfTrue, vm.OpJumpIfNotNil:
			// cond; JumpIfFalse L1; Pop; exp1; Jump L2; L1: Pop; exp2; L2:
			// left; JumpIfFalse|JumpIfTrue|JumpIfNotNil L; Pop; right; L:
			t := i + 1 + a
			if len(st) < 1 || a < 2 || t > to || code[i+1] != vm.OpPop {
				return nil, false
			}
			left := pop()
			if op == vm.OpJumpIfFalse && code[t-1] == vm.OpJump && t < to && code[t] == vm.OpPop {
				end := t + argOf[t-1]
				if argOf[t-1] < 2 || end > to {
					return nil, false
				}
				e1, ok1 := single(i+2, t-1)
				e2, ok2 := single(t+1, end)
				if !ok1 || !ok2 {
					return nil, false
				}
				st = append(st, &fastNode{op: opCond, kids: []*fastNode{left, e1, e2}})
				i = end - 1
				continue
			}
			right, ok := single(i+2, t)
			if !ok {
				return nil, false
			}
			nd := &fastNode{kids: []*fastNode{left, right}}
			switch op {
			case vm.OpJumpIfFalse:
				nd.op = opAnd
			case vm.OpJumpIfTrue:
				nd.op = opOr
			default:
				nd.op = opCoalesce
			}
			st = append(st, nd)
			i = t - 1
		default:
			return nil, false
		}
	}
	return st, true
}

// derefIdentity: deref.Interface returns v itself (a value of a type that
// is neither a pointer nor an interface holding one).
func derefIdentity(v any) bool {
	switch v.(type) {
	case nil, string, int, int64, float64, bool, map[string]any, []any:
		return true
	}
	return false
}

// usesEnv: n reads the env map itself.
func usesEnv(n *fastNode) bool {
	if n.op == opLoad && n.arg.kind == fastEnv {
		return true
	}
	for _, k := range n.kids {
		if usesEnv(k) {
			return true
		}
	}
	return false
}

// bufNeed is how many argument slots evaluating n takes.
func bufNeed(n *fastNode) int {
	need := 0
	base := 0
	if n.op == opCall {
		base = len(n.kids)
	}
	for _, k := range n.kids {
		need = max(need, bufNeed(k))
	}
	return base + need
}

// eval evaluates p against env with buf (len >= maxFastArgs) as the
// argument buffer, as vm.Run would: a panic or a function's error becomes
// a *file.Error whose Message is what the VM would report.
func (p *fastProg) eval(env map[string]any, buf []any) (v any, err error) {
	return p.evalScope(&fastScope{env: env}, buf)
}

// evalScope is eval reading names from s.
func (p *fastProg) evalScope(env *fastScope, buf []any) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			fe := &file.Error{Message: fmt.Sprintf("%v", r)}
			if e, ok := r.(error); ok {
				fe.Wrap(e)
			}
			v, err = nil, fe
		}
	}()
	return p.root.eval(env, buf), nil
}

// eval computes n; calls take their arguments from the front of buf and
// leave the rest to the calls nested in them.
func (n *fastNode) eval(env *fastScope, buf []any) any {
	switch n.op {
	case opLoad:
		return n.arg.value(env)
	case opCall:
		k := len(n.kids)
		args, rest := buf[:k:k], buf[k:]
		for i, c := range n.kids {
			args[i] = c.eval(env, rest)
		}
		out, err := n.fn(args...)
		clear(args) // the buffer outlives the call; do not keep the record alive
		if err != nil {
			panic(err)
		}
		return out
	case opDeref:
		return derefValue(n.kids[0].eval(env, buf))
	case opFetch:
		return fetch(n.kids[0].eval(env, buf), n.key)
	case opEqual:
		a := n.kids[0].eval(env, buf)
		return runtime.Equal(a, n.kids[1].eval(env, buf))
	case opEqualStr:
		a := n.kids[0].eval(env, buf)
		b := n.kids[1].eval(env, buf)
		return a.(string) == b.(string)
	case opEqualInt:
		a := n.kids[0].eval(env, buf)
		b := n.kids[1].eval(env, buf)
		return a.(int) == b.(int)
	case opCompare:
		a := n.kids[0].eval(env, buf)
		return n.cmp(a, n.kids[1].eval(env, buf))
	case opNot:
		return !n.kids[0].eval(env, buf).(bool)
	case opMatches:
		a := n.kids[0].eval(env, buf)
		if fastIsNil(a) {
			return false
		}
		if s, ok := a.(string); ok {
			return n.re.MatchString(s)
		}
		return n.re.Match(a.([]byte))
	case opBuiltin1:
		return n.fn1(n.kids[0].eval(env, buf))
	case opCond:
		if n.kids[0].eval(env, buf).(bool) {
			return n.kids[1].eval(env, buf)
		}
		return n.kids[2].eval(env, buf)
	case opAnd:
		l := n.kids[0].eval(env, buf)
		if !l.(bool) {
			return l
		}
		return n.kids[1].eval(env, buf)
	case opOr:
		l := n.kids[0].eval(env, buf)
		if l.(bool) {
			return l
		}
		return n.kids[1].eval(env, buf)
	case opCoalesce:
		l := n.kids[0].eval(env, buf)
		if !fastIsNil(l) {
			return l
		}
		return n.kids[1].eval(env, buf)
	}
	panic(fmt.Sprintf("mapping: direct program: unknown node %d", n.op))
}

// fastIsNil is runtime.IsNil without reflection for the types a decoded
// record and the mapping functions hold.
func fastIsNil(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string, bool, int, int64, float64:
		return false
	case map[string]any:
		return v == nil
	case []any:
		return v == nil
	}
	return runtime.IsNil(v)
}

// derefValue is expr's deref.Interface (an internal package): pointers
// and interfaces followed to their value, a nil one to nil.
func derefValue(p any) any {
	if derefIdentity(p) {
		return p
	}
	v := reflect.ValueOf(p)
	for v.Kind() == reflect.Ptr || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.IsValid() {
		return v.Interface()
	}
	panic(fmt.Sprintf("cannot dereference %v", p))
}

func (a *fastArg) value(env *fastScope) any {
	var v any
	switch a.kind {
	case fastConst:
		v = a.val
	case fastEnvKey:
		v = env.lookup(a)
	case fastEnv:
		v = env.env // usesEnv: only run with the env map
	}
	for _, k := range a.fetch {
		v = fetch(v, k)
	}
	return v
}

// fetch is runtime.Fetch, without its reflection for a JSON object and a
// string key, the common case (it answers the same: the value or, for a
// missing key, nil).
func fetch(v, k any) any {
	if m, ok := v.(map[string]any); ok {
		if ks, ok := k.(string); ok {
			return m[ks]
		}
	}
	return runtime.Fetch(v, k)
}
