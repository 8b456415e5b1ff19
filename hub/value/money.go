package value

import (
	"sort"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
)

// sums adds decimal amounts per currency, exactly, keeping the largest
// scale seen per currency so a sum prints like its inputs (as the open
// balance does) whatever order they came in.
type sums map[string]*sum

type sum struct {
	d     amount
	scale int32
}

// parseMoney reads m; ok is false for an absent or unreadable amount
// (Apply refuses unreadable totals and payment amounts; line amounts are
// not checked there, so they are skipped here).
func parseMoney(m *hub.Money) (amount, bool) {
	if m == nil || m.Currency == "" {
		return amount{}, false
	}
	return parseAmount(m.Amount)
}

func (s sums) add(cur string, d amount) {
	x := s[cur]
	if x == nil {
		x = &sum{}
		s[cur] = x
	}
	x.d = x.d.add(d)
	x.scale = max(x.scale, d.scale())
}

// list is the sums sorted by currency, never nil (an empty list reads
// "none" in JSON, not "unknown").
func (s sums) list() []hub.Money {
	out := make([]hub.Money, 0, len(s))
	for cur, x := range s {
		out = append(out, hub.Money{Amount: x.d.fixed(x.scale), Currency: cur})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out
}

func (s sums) get(cur string) amount {
	if x := s[cur]; x != nil {
		return x.d
	}
	return amount{}
}

// base converts s to the base currency with the configured rates; it
// returns the currencies it had no rate for, sorted.
func (s sums) base(cfg Config) (hub.Money, []string) {
	total := decimal.Zero
	var missing []string
	for cur, x := range s {
		switch r, ok := cfg.Rates[cur]; {
		case cur == cfg.BaseCurrency:
			total = total.Add(x.d.dec())
		case ok:
			total = total.Add(x.d.dec().Mul(r))
		default:
			if x.d.sign() != 0 {
				missing = append(missing, cur)
			}
		}
	}
	sort.Strings(missing)
	return hub.Money{Amount: total.StringFixed(2), Currency: cfg.BaseCurrency}, missing
}

// dimSums are sums per value of one dimension (category, channel, region).
type dimSums map[string]sums

func (d dimSums) add(key, cur string, v amount) {
	if key == "" {
		return
	}
	if d[key] == nil {
		d[key] = sums{}
	}
	d[key].add(cur, v)
}

func (d dimSums) lists() map[string][]hub.Money {
	if len(d) == 0 {
		return nil
	}
	out := make(map[string][]hub.Money, len(d))
	for k, s := range d {
		out[k] = s.list()
	}
	return out
}
