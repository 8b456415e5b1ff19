package sdk_test

import (
	"context"
	"fmt"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// counter is the smallest useful source: it counts to a configured number.
type counter struct {
	sdk.UnimplementedSource
	cfg struct {
		To int `json:"to"`
	}
	next int
}

func (c *counter) Configure(_ context.Context, cfg sdk.Config) error {
	return Counter.Spec.Decode(cfg, &c.cfg)
}

func (c *counter) Open(_ context.Context, pos sdk.Position) error {
	if len(pos) > 0 {
		_, err := fmt.Sscan(string(pos), &c.next)
		return err
	}
	return nil
}

func (c *counter) Read(_ context.Context, max int) ([]sdk.Record, error) {
	var out []sdk.Record
	for ; len(out) < max && c.next < c.cfg.To; c.next++ {
		out = append(out, sdk.Record{
			Entity: "numbers", ID: fmt.Sprint(c.next), Op: sdk.OpUpsert,
			Payload: fmt.Appendf(nil, `{"n":%d}`, c.next), Position: fmt.Append(nil, c.next+1),
		})
	}
	return out, nil
}

var Counter = sdk.Connector{
	Spec: sdk.Spec{
		Name: "counter", Summary: "Counts.", Version: "1.0.0", Kinds: []sdk.Kind{sdk.KindSource},
		Params: []sdk.Param{{Name: "to", Type: sdk.TypeInt, Default: "3", Description: "Count up to this."}},
	},
	NewSource: func() sdk.Source { return &counter{} },
}

// A plugin's main is one line; the host does the rest.
func ExampleServe() {
	if false { // in a real plugin: func main() { sdk.Serve(Counter) }
		sdk.Serve(Counter)
	}
}

func ExampleDescribeText() {
	fmt.Print(sdk.DescribeText(Counter.Spec))
	// Output:
	// counter 1.0.0
	//   Counts.
	//   kinds:  source
	//
	// Parameters:
	//   NAME  TYPE  REQUIRED  DEFAULT  DESCRIPTION
	//   to    int   no        3        Count up to this.
}

// Using a connector in-process, as tests and development do.
func Example_inProcess() {
	ctx := context.Background()
	cfg, _ := Counter.Spec.Validate(sdk.Config{}) // applies the default: to=3
	src := Counter.NewSource()
	_ = src.Configure(ctx, cfg)
	_ = src.Open(ctx, sdk.Position("1")) // resume after record 0
	recs, _ := src.Read(ctx, 10)
	for _, r := range recs {
		fmt.Println(r.ID, string(r.Payload))
	}
	_ = src.Teardown(ctx)
	// Output:
	// 1 {"n":1}
	// 2 {"n":2}
}
