package value

import (
	"slices"
	"sort"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
)

// sums adds decimal amounts per currency, exactly, keeping the largest
// scale seen per currency so a sum prints like its inputs (as the open
// balance does) whatever order they came in. A customer has one currency
// or a few: a slice searched in order allocates less than a map.
type sums []sum

type sum struct {
	cur   string
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

func (s *sums) add(cur string, d amount) {
	x := s.find(cur)
	if x == nil {
		*s = append(*s, sum{cur: cur})
		x = &(*s)[len(*s)-1]
	}
	x.d = x.d.add(d)
	x.scale = max(x.scale, d.scale())
}

func (s sums) find(cur string) *sum {
	for i := range s {
		if s[i].cur == cur {
			return &s[i]
		}
	}
	return nil
}

// list is the sums sorted by currency, never nil (an empty list reads
// "none" in JSON, not "unknown").
func (s sums) list() []hub.Money { return s.appendList(make([]hub.Money, 0, len(s))) }

// appendList appends the sums sorted by currency to out.
func (s sums) appendList(out []hub.Money) []hub.Money {
	n := len(out)
	for _, x := range s {
		out = append(out, hub.Money{Amount: x.d.fixed(x.scale), Currency: x.cur})
	}
	slices.SortFunc(out[n:], func(a, b hub.Money) int { return strings.Compare(a.Currency, b.Currency) })
	return out
}

func (s sums) get(cur string) amount {
	if x := s.find(cur); x != nil {
		return x.d
	}
	return amount{}
}

// base converts s to the base currency with the configured rates; it
// returns the currencies it had no rate for, sorted.
func (s sums) base(cfg Config) (hub.Money, []string) {
	total := decimal.Zero
	var missing []string
	for _, x := range s {
		switch r, ok := cfg.Rates[x.cur]; {
		case x.cur == cfg.BaseCurrency:
			total = total.Add(x.d.dec())
		case ok:
			total = total.Add(x.d.dec().Mul(r))
		default:
			if x.d.sign() != 0 {
				missing = append(missing, x.cur)
			}
		}
	}
	sort.Strings(missing)
	return hub.Money{Amount: total.StringFixed(2), Currency: cfg.BaseCurrency}, missing
}

// dimSums are sums per value of one dimension (category, channel, region,
// month) and currency, one flat list in the order they came: a customer
// has a few values per dimension, and a list of pairs allocates once where
// a map of maps allocated per value.
type dimSums []dimSum

type dimSum struct {
	key string
	sum
}

func (d *dimSums) add(key, cur string, v amount) {
	if key == "" {
		return
	}
	for i := range *d {
		if x := &(*d)[i]; x.key == key && x.cur == cur {
			x.d = x.d.add(v)
			x.scale = max(x.scale, v.scale())
			return
		}
	}
	*d = append(*d, dimSum{key: key, sum: sum{cur: cur, d: amount{}.add(v), scale: v.scale()}})
}

// lists are the sums by value, each sorted by currency, sharing one
// backing array.
func (d dimSums) lists(buf *[]hub.Money) map[string][]hub.Money {
	if len(d) == 0 {
		return nil
	}
	// Sorted in place (the sums are not read after), unstably: add keeps
	// one entry per value and currency, so no two compare equal.
	sorted := d
	slices.SortFunc(sorted, func(a, b dimSum) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.cur, b.cur)
	})
	out := make(map[string][]hub.Money, len(sorted))
	from := len(*buf)
	for i, x := range sorted {
		*buf = append(*buf, hub.Money{Amount: x.d.fixed(x.scale), Currency: x.cur})
		if i+1 == len(sorted) || sorted[i+1].key != x.key {
			n := len(*buf)
			out[x.key] = (*buf)[from:n:n]
			from = n
		}
	}
	return out
}
