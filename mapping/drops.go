package mapping

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/expr-lang/expr/ast"
)

// A cleaner (phone, email, emails, country, gender, birth_date) that cannot read a
// value leaves it out and says so: the value is dropped, the record goes
// on, and the drop is counted. The calls are found wherever they stand in
// an expression, also inside map(), filter() or a ternary, so that no
// value is lost without a trace: at compile time each call of a cleaner is
// rewritten to a twin that also receives the evaluation's dropSink (a
// variable of the environment only the engine sets), and the twin records
// the drop for the field being evaluated.

// sinkVar is the environment variable that holds the current *dropSink.
// Its name cannot be written as an identifier in a mapping, so no source
// field can shadow it.
const sinkVar = "$crmhub_sink"

// sinkPrefix names the twin of cleaner f: sinkPrefix + f.
const sinkPrefix = "$sink_"

// dropError is how a cleaner says why it left a value out. The plain
// function (docs, examples) turns it into nil; the twin records it.
type dropError struct {
	reason string
	n      int // values left out, when a cleaner keeps the rest (emails); 0 means 1
}

func (e *dropError) Error() string { return e.reason }

func drop(reason string) error { return &dropError{reason: reason} }

// dropSome says n parts of a value were left out and the result holds the
// rest.
func dropSome(n int, reason string) error { return &dropError{reason: reason, n: n} }

// asDrop is err's *dropError, or nil. The common case, no error, takes no
// errors.As (whose target would escape and allocate on every call).
func asDrop(err error) *dropError {
	if err == nil {
		return nil
	}
	var de *dropError
	if errors.As(err, &de) {
		return de
	}
	return nil
}

// dropSink collects the drops of one Apply. Not safe for concurrent use:
// each Apply has its own (in applyState).
type dropSink struct {
	field string // target path being evaluated
	drops []Dropped
}

func (s *dropSink) add(fn, reason string) {
	if s == nil {
		return
	}
	s.drops = append(s.drops, Dropped{Field: s.field, Func: fn, Reason: fn + ": " + reason})
}

// sinkTwin wraps a cleaner's implementation: the first argument is the
// sink. A nil result for a non-empty value is a drop even when the cleaner
// gives no reason.
func sinkTwin(name string, fn func(args ...any) (any, error)) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		sink, _ := args[0].(*dropSink)
		v, err := fn(args[1:]...)
		if de := asDrop(err); de != nil {
			if len(args) > 1 && !isEmpty(args[1]) { // an empty value is missing, not dropped
				for i := 0; i < max(1, de.n); i++ {
					sink.add(name, de.reason)
				}
			}
			return v, nil
		}
		if err == nil && isNil(v) && len(args) > 1 && !isEmpty(args[1]) {
			sink.add(name, "could not read the value")
		}
		return v, err
	}
}

// sinkTypes prepends the sink's parameter to each of a cleaner's expr
// function types, so that expr still checks arity and literal types.
func sinkTypes(types []any) []any {
	anyT := reflect.TypeOf((*any)(nil)).Elem()
	out := make([]any, 0, len(types))
	for _, t := range types {
		ft := reflect.TypeOf(t).Elem()
		in := []reflect.Type{anyT}
		for i := 0; i < ft.NumIn(); i++ {
			in = append(in, ft.In(i))
		}
		outs := make([]reflect.Type, ft.NumOut())
		for i := range outs {
			outs[i] = ft.Out(i)
		}
		out = append(out, reflect.New(reflect.FuncOf(in, outs, ft.IsVariadic())).Interface())
	}
	return out
}

// sinkPatcher rewrites cleaner(x, ...) to $sink_cleaner($crmhub_sink, x, ...).
type sinkPatcher struct{}

func (sinkPatcher) Visit(node *ast.Node) {
	c, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	if f := registry[id.Value]; f == nil || !f.nilOnInvalid {
		return
	}
	args := append([]ast.Node{&ast.IdentifierNode{Value: sinkVar}}, c.Arguments...)
	ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: sinkPrefix + id.Value}, Arguments: args})
}

// dropMessage is the warning text of one drop: field and reason, never
// the value.
func dropMessage(d Dropped) string {
	return fmt.Sprintf("%s: %s, left out", d.Field, d.Reason)
}
