package demo

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/value"
)

// The generated orders populate every lifecycle stage, channel and
// category, and carry costs, when their figures are computed as of the
// demo's day (hub/value, docs/value.md).
func TestGeneratedValuePatterns(t *testing.T) {
	w := &world{
		rng:       rand.New(rand.NewPCG(42, 0x5eed_c0ffee)),
		ev:        rand.New(rand.NewPCG(42, 0xe71d_e0ce)),
		buy:       rand.New(rand.NewPCG(42, 0xb0b_5a1e)),
		opts:      Options{Seed: 42, People: 300},
		usedEmail: map[string]bool{}, usedPhone: map[string]bool{}, usedVAT: map[string]bool{}, usedDomain: map[string]bool{},
	}
	w.build()
	status := map[string]string{"O": "open", "C": "confirmed", "S": "shipped", "X": "cancelled"}
	byCust := map[string][]hub.Order{}
	channels, categories := map[string]bool{}, map[string]bool{}
	for _, o := range w.orders {
		ho := hub.Order{OrderNumber: o.no, OrderDate: o.date, Status: status[o.status], Channel: o.channel}
		for _, l := range o.lines {
			ho.Lines = append(ho.Lines, hub.OrderLine{LineNo: l.no, Quantity: l.qty, UnitPrice: &hub.Money{Amount: l.priceS, Currency: o.currency},
				Category: l.category, Cost: &hub.Money{Amount: l.costS, Currency: o.currency}})
			categories[l.category] = true
		}
		channels[o.channel] = true
		byCust[o.custno] = append(byCust[o.custno], ho)
	}
	stages := map[value.Stage]int{}
	margins, buyers := 0, 0
	for _, orders := range byCust {
		f := value.Compute(value.Input{Orders: orders}, now, value.DefaultConfig())
		stages[f.Loyalty.Stage]++
		if f.Revenue.Orders > 0 {
			buyers++
			if f.Margin != nil && f.Margin.Coverage == "1.00" {
				margins++
			}
		}
	}
	for _, st := range []value.Stage{value.StageNew, value.StageActive, value.StageAtRisk, value.StageLapsed, value.StageWonBack} {
		if stages[st] == 0 {
			t.Errorf("no generated customer in stage %s: %v", st, stages)
		}
	}
	if margins != buyers {
		t.Errorf("%d of %d customers with orders have a margin over all lines", margins, buyers)
	}
	for _, ch := range []string{"web", "store", "phone", "field_sales"} {
		if !channels[ch] {
			t.Errorf("no order in channel %s (%v)", ch, channels)
		}
	}
	for _, cat := range skuCategory {
		if !categories[cat] {
			t.Errorf("no line in category %s", cat)
		}
	}
	if slices.ContainsFunc(w.orders, func(o order) bool { return o.channel == "" || strings.Contains(o.no, "-") }) {
		t.Error("an order without a channel or with a malformed number")
	}
	t.Logf("stages %v", stages)
}
