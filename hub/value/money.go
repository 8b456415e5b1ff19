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
	d     decimal.Decimal
	scale int32
}

// parseMoney reads m; ok is false for an absent or unreadable amount
// (Apply refuses unreadable totals and payment amounts; line amounts are
// not checked there, so they are skipped here).
func parseMoney(m *hub.Money) (decimal.Decimal, bool) {
	if m == nil || m.Currency == "" {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(m.Amount)
	return d, err == nil
}

func (s sums) add(cur string, d decimal.Decimal) {
	x := s[cur]
	if x == nil {
		x = &sum{}
		s[cur] = x
	}
	x.d = x.d.Add(d)
	if -d.Exponent() > x.scale {
		x.scale = -d.Exponent()
	}
}

// list is the sums sorted by currency, never nil (an empty list reads
// "none" in JSON, not "unknown").
func (s sums) list() []hub.Money {
	out := make([]hub.Money, 0, len(s))
	for cur, x := range s {
		out = append(out, hub.Money{Amount: x.d.StringFixed(x.scale), Currency: cur})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out
}

func (s sums) get(cur string) decimal.Decimal {
	if x := s[cur]; x != nil {
		return x.d
	}
	return decimal.Zero
}

// base converts s to the base currency with the configured rates; it
// returns the currencies it had no rate for, sorted.
func (s sums) base(cfg Config) (hub.Money, []string) {
	total := decimal.Zero
	var missing []string
	for cur, x := range s {
		switch r, ok := cfg.Rates[cur]; {
		case cur == cfg.BaseCurrency:
			total = total.Add(x.d)
		case ok:
			total = total.Add(x.d.Mul(r))
		default:
			if !x.d.IsZero() {
				missing = append(missing, cur)
			}
		}
	}
	sort.Strings(missing)
	return hub.Money{Amount: total.StringFixed(2), Currency: cfg.BaseCurrency}, missing
}

// dimSums are sums per value of one dimension (category, channel, region).
type dimSums map[string]sums

func (d dimSums) add(key, cur string, v decimal.Decimal) {
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
