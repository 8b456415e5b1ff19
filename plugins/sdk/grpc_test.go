package sdk

import (
	"context"
	"errors"
	"github.com/crmhub/crmhub/plugins/internal/hostside"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
)

// memSource remembers what it was given so the test can check what crossed
// the wire.
type memSource struct {
	UnimplementedSource
	cfg   Config
	pos   Position
	acked Position
	recs  []Record
}

func (m *memSource) Configure(_ context.Context, cfg Config) error {
	if cfg["fail"] == true {
		return errors.Join(errors.New("first problem"), errors.New("second problem"))
	}
	m.cfg = cfg
	return nil
}
func (m *memSource) Open(_ context.Context, pos Position) error { m.pos = pos; return nil }
func (m *memSource) Read(_ context.Context, max int) ([]Record, error) {
	if max > len(m.recs) {
		max = len(m.recs)
	}
	out := m.recs[:max]
	m.recs = m.recs[max:]
	return out, nil
}
func (m *memSource) Ack(_ context.Context, pos Position) error {
	if string(pos) == "unsupported" {
		return ErrNotSupported
	}
	m.acked = pos
	return nil
}

func TestSourceOverGRPC(t *testing.T) {
	ts := time.Date(2024, 5, 1, 12, 30, 0, 123456789, time.UTC)
	mem := &memSource{recs: []Record{
		{Entity: "customers", ID: "1", UpdatedAt: ts, Op: OpUpsert, Payload: []byte(`{"a":1}`), Position: Position("p1"), Meta: map[string]string{"line": "1"}},
		{Entity: "customers", ID: "2", Op: OpDelete, Position: Position("p2")},
		{Entity: "customers", ID: "3", Op: OpUpsert, Error: "bad line", Payload: []byte(`{}`), Position: Position("p3")},
	}}
	conn := Connector{
		Spec: Spec{Name: "mem", Params: []Param{
			{Name: "n", Type: TypeInt}, {Name: "fail", Type: TypeBool}, {Name: "tags", Type: TypeList},
		}},
		NewSource: func() Source { return mem },
	}
	client, _ := plugin.TestPluginGRPCConn(t, false, pluginSet(conn))
	defer client.Close()
	raw, err := client.Dispense(hostside.PluginSource)
	if err != nil {
		t.Fatal(err)
	}
	src := raw.(Source)
	ctx := context.Background()

	spec, err := raw.(describer).Spec(ctx)
	if err != nil || spec.Name != "mem" || len(spec.Params) != 3 {
		t.Fatalf("spec = %+v, %v", spec, err)
	}
	err = src.Configure(ctx, Config{"fail": true})
	if err == nil || !strings.Contains(err.Error(), "first problem") || !strings.Contains(err.Error(), "second problem") {
		t.Fatalf("configure errors must all cross the wire, got %v", err)
	}
	if errors.Is(err, ErrTransport) {
		t.Fatalf("a connector error is not a transport error: %v", err)
	}
	if err := src.Configure(ctx, Config{"n": 7, "tags": []any{"x"}}); err != nil {
		t.Fatal(err)
	}
	if n, ok := mem.cfg["n"].(int); !ok || n != 7 {
		t.Errorf("int parameter arrived as %T %v, want int 7", mem.cfg["n"], mem.cfg["n"])
	}
	if err := src.Open(ctx, Position("start")); err != nil || string(mem.pos) != "start" {
		t.Fatalf("open: %v, pos %q", err, mem.pos)
	}
	got, err := src.Read(ctx, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("read = %d records, %v", len(got), err)
	}
	if !got[0].UpdatedAt.Equal(ts) || got[0].Meta["line"] != "1" || string(got[0].Payload) != `{"a":1}` || string(got[0].Position) != "p1" {
		t.Errorf("record 0 changed on the wire: %+v", got[0])
	}
	if !got[1].UpdatedAt.IsZero() || got[1].Op != OpDelete {
		t.Errorf("record 1: %+v", got[1])
	}
	if got[2].Error != "bad line" {
		t.Errorf("record 2 lost its error: %+v", got[2])
	}
	if err := src.Ack(ctx, Position("p3")); err != nil || string(mem.acked) != "p3" {
		t.Fatalf("ack: %v, acked %q", err, mem.acked)
	}
	if err := src.Ack(ctx, Position("unsupported")); !errors.Is(err, ErrNotSupported) {
		t.Errorf("ErrNotSupported must survive the wire, got %v", err)
	}
	if err := src.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
}
