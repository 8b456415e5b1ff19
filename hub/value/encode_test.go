package value

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
)

// TestAppendJSONAsMarshal: AppendJSON (and AppendBlockJSON, of Block)
// writes what json.Marshal writes, on
// computed figures (odd bytes and HTML characters in dimension values),
// the zero figures and figures with every optional part set or unset.
func TestAppendJSONAsMarshal(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Rates = map[string]decimal.Decimal{"CHF": decimal.RequireFromString("1.05")}
	r := rand.New(rand.NewPCG(3, 11))
	check := func(i int, f *Figures) {
		t.Helper()
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
		block, err := json.Marshal(f.Block())
		if err != nil {
			t.Fatal(err)
		}
		if got := f.AppendBlockJSON(nil); string(got) != string(block) {
			t.Fatalf("case %d, block:\n got %s\nwant %s", i, got, block)
		}
	}
	check(-1, &Figures{})
	odd := []string{"<b>&", "süd", "tab\there", "\u2028", "bad\xffutf8", `q"uote\`}
	for i := range 3000 {
		in := randomInput(r)
		for j := range in.Orders {
			if r.IntN(4) == 0 {
				in.Orders[j].Region = odd[r.IntN(len(odd))]
			}
		}
		f := Compute(in, now, cfg)
		if r.IntN(2) == 0 {
			f.Segment = Segment{Recency: r.IntN(6), Frequency: r.IntN(6), Monetary: r.IntN(6), RFM: "545"[:r.IntN(4)],
				ABC: []string{"", "A", "C"}[r.IntN(3)], Name: []string{"", "champions", odd[r.IntN(len(odd))]}[r.IntN(3)]}
		}
		if r.IntN(5) == 0 {
			f.Revenue.Lifetime, f.Revenue.Unconverted = nil, []string{"USD", "<x>"}
		}
		check(i, &f)
	}
	empty := Figures{Margin: &Margin{Percent: map[string]string{}}, Revenue: Revenue{ByMonth: map[string][]hub.Money{}}}
	check(-2, &empty)
}
