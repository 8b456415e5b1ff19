package sdk

import (
	"context"
	"errors"
	"github.com/crmhub/crmhub/plugins/internal/hostside"
	"slices"
	"sort"
	"testing"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/crmhub/crmhub/plugins/proto/v1"
)

// countingSource holds keys per entity and answers reconciliation.
type countingSource struct {
	memSource
	keys map[string][]string // sorted
}

func (c *countingSource) Count(_ context.Context, entity string) (int64, error) {
	k, ok := c.keys[entity]
	if !ok {
		return 0, ErrNotSupported
	}
	return int64(len(k)), nil
}

func (c *countingSource) Keys(_ context.Context, entity, after string, limit int) ([]string, error) {
	k := c.keys[entity]
	i := sort.SearchStrings(k, after)
	if i < len(k) && k[i] == after {
		i++
	}
	return k[i:min(len(k), i+limit)], nil
}

func dispenseSource(t *testing.T, set plugin.PluginSet) Source {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, set)
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(hostside.PluginSource)
	if err != nil {
		t.Fatal(err)
	}
	src := raw.(Source)
	if err := src.Configure(context.Background(), Config{}); err != nil {
		t.Fatal(err)
	}
	return src
}

func TestReconcilerOverGRPC(t *testing.T) {
	cs := &countingSource{keys: map[string][]string{"customers": {"a", "b", "c", "d", "e"}}}
	src := dispenseSource(t, pluginSet(Connector{Spec: Spec{Name: "counting"}, NewSource: func() Source { return cs }}))
	ctx := context.Background()

	n, err := CountOf(ctx, src, "customers")
	if err != nil || n != 5 {
		t.Fatalf("count = %d, %v; want 5", n, err)
	}
	if _, err := CountOf(ctx, src, "orders"); !errors.Is(err, ErrNotSupported) {
		t.Errorf("count of an entity the source cannot count: want ErrNotSupported, got %v", err)
	}
	var all []string
	after := ""
	for {
		page, err := KeysOf(ctx, src, "customers", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1]
	}
	if !slices.Equal(all, cs.keys["customers"]) {
		t.Errorf("paged keys = %v, want %v", all, cs.keys["customers"])
	}
}

func TestReconcilerNotSupported(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		set  plugin.PluginSet
	}{
		// A current plugin whose connector does not implement Reconciler.
		{"connector without Reconciler", pluginSet(Connector{Spec: Spec{Name: "mem"}, NewSource: func() Source { return &memSource{} }})},
		// A plugin built before the RPCs existed: its server has no
		// Count or Keys handler at all.
		{"plugin built before the RPCs", plugin.PluginSet{hostside.PluginSource: &oldSourcePlugin{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := dispenseSource(t, tt.set)
			if _, err := CountOf(ctx, src, "customers"); !errors.Is(err, ErrNotSupported) || errors.Is(err, ErrTransport) {
				t.Errorf("count: want ErrNotSupported, got %v", err)
			}
			if _, err := KeysOf(ctx, src, "customers", "", 10); !errors.Is(err, ErrNotSupported) {
				t.Errorf("keys: want ErrNotSupported, got %v", err)
			}
		})
	}
	if _, err := CountOf(ctx, &memSource{}, "customers"); !errors.Is(err, ErrNotSupported) {
		t.Errorf("in-process source without Reconciler: want ErrNotSupported, got %v", err)
	}
}

// oldSourcePlugin serves only what protocol version 1 had before the
// reconciliation RPCs: Configure succeeds, Count and Keys are unknown.
type oldSourcePlugin struct{ plugin.NetRPCUnsupportedPlugin }

type oldSourceServer struct {
	pluginv1.UnimplementedSourceServer
}

func (oldSourceServer) Configure(context.Context, *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	return &pluginv1.ConfigureResponse{}, nil
}

func (p *oldSourcePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "crmhub.plugin.v1.Source",
		HandlerType: (*interface {
			Configure(context.Context, *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error)
		})(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Configure", Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(pluginv1.ConfigureRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(oldSourceServer).Configure(ctx, in)
		}}},
	}, oldSourceServer{})
	return nil
}

func (p *oldSourcePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &sourceClient{c: pluginv1.NewSourceClient(c)}, nil
}
