package mapping

import (
	"fmt"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// Most field programs are a field, a constant, or one library call on
// fields and constants (phone(phone, "DE"), lower(email)). For those the
// VM's per-run setup (an argument buffer allocated on every Run, the
// dispatch loop, the deferred recover) costs more than the function
// itself, so they are evaluated directly. The shape is read off expr's
// own bytecode, not re-derived from the source: only programs made of the
// opcodes handled below qualify, and each is evaluated as the VM would
// (the same env lookups, runtime.Fetch, the same function value, panics
// and errors turned into the same *file.Error message). Anything else
// runs on the VM.

// fastArg is one value pushed by a load sequence: a constant, an env
// variable or the env itself, then zero or more runtime.Fetch steps.
type fastArg struct {
	kind  fastKind
	val   any    // fastConst
	key   string // fastEnvKey
	fetch []any  // keys applied with runtime.Fetch, in order
}

type fastKind uint8

const (
	fastConst fastKind = iota
	fastEnvKey
	fastEnv
)

// fastProg is a program evaluated without the VM: args, then fn applied
// to them (fn nil: the program is its single arg).
type fastProg struct {
	args []fastArg
	fn   func(args ...any) (any, error)
}

// maxFastArgs bounds the calls taken: expr emits OpCall0-3 for up to three
// arguments (the buffer in applyState has room for them).
const maxFastArgs = 3

// fastShape returns the direct evaluation of prog, or nil when prog is
// anything but a load sequence or one call of a function in funcs on
// load sequences.
func fastShape(prog *vm.Program, funcs map[string]func(args ...any) (any, error)) *fastProg {
	code, argOf := prog.Bytecode, prog.Arguments
	var args []fastArg
	fp := &fastProg{}
	for i := 0; i < len(code); i++ {
		a := argOf[i]
		switch code[i] {
		case vm.OpPush:
			args = append(args, fastArg{kind: fastConst, val: prog.Constants[a]})
		case vm.OpInt:
			args = append(args, fastArg{kind: fastConst, val: a})
		case vm.OpNil:
			args = append(args, fastArg{kind: fastConst, val: nil})
		case vm.OpTrue:
			args = append(args, fastArg{kind: fastConst, val: true})
		case vm.OpFalse:
			args = append(args, fastArg{kind: fastConst, val: false})
		case vm.OpLoadFast:
			k, ok := prog.Constants[a].(string)
			if !ok {
				return nil
			}
			args = append(args, fastArg{kind: fastEnvKey, key: k})
		case vm.OpLoadEnv:
			args = append(args, fastArg{kind: fastEnv})
		case vm.OpDeref:
			// expr derefs the key of $env["name"] (a shadowed field); a
			// string constant is its own dereference.
			n := len(args)
			if n == 0 || args[n-1].kind != fastConst || args[n-1].fetch != nil {
				return nil
			}
			if _, ok := args[n-1].val.(string); !ok {
				return nil
			}
		case vm.OpFetch:
			// The key must be a constant just pushed onto a load.
			n := len(args)
			if n < 2 || args[n-1].kind != fastConst || args[n-1].fetch != nil {
				return nil
			}
			args[n-2].fetch = append(args[n-2].fetch, args[n-1].val)
			args = args[:n-1]
		case vm.OpCall0, vm.OpCall1, vm.OpCall2, vm.OpCall3:
			n := int(code[i] - vm.OpCall0)
			if i != len(code)-1 || n != len(args) {
				return nil
			}
			call, ok := prog.Node().(*ast.CallNode)
			if !ok || len(call.Arguments) != n {
				return nil
			}
			id, ok := call.Callee.(*ast.IdentifierNode)
			if !ok || funcs[id.Value] == nil {
				return nil
			}
			fp.fn = funcs[id.Value]
		default:
			return nil
		}
	}
	if fp.fn == nil && len(args) != 1 {
		return nil
	}
	fp.args = args
	return fp
}

// eval evaluates p against env with buf (len >= maxFastArgs) as the
// argument buffer, as vm.Run would: a panic or a function's error becomes
// a *file.Error whose Message is what the VM would report.
func (p *fastProg) eval(env map[string]any, buf []any) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			fe := &file.Error{Message: fmt.Sprintf("%v", r)}
			if e, ok := r.(error); ok {
				fe.Wrap(e)
			}
			v, err = nil, fe
		}
	}()
	if p.fn == nil {
		return p.args[0].value(env), nil
	}
	args := buf[:len(p.args)]
	for i := range p.args {
		args[i] = p.args[i].value(env)
	}
	out, err := p.fn(args...)
	clear(args) // the buffer outlives the call; do not keep the record alive
	if err != nil {
		panic(err)
	}
	return out, nil
}

func (a *fastArg) value(env map[string]any) any {
	var v any
	switch a.kind {
	case fastConst:
		v = a.val
	case fastEnvKey:
		v = env[a.key]
	case fastEnv:
		v = env
	}
	for _, k := range a.fetch {
		// A JSON object and a string key, the common case, without
		// runtime.Fetch's reflection (which answers the same: the value
		// or, for a missing key, nil).
		if m, ok := v.(map[string]any); ok {
			if ks, ok := k.(string); ok {
				v = m[ks]
				continue
			}
		}
		v = runtime.Fetch(v, k)
	}
	return v
}
