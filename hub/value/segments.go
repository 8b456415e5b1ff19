package value

import (
	"fmt"
	"sort"

	"github.com/shopspring/decimal"
)

// Point is one customer's place in the distribution segments are cut
// from: days since the last order, counted orders and base-currency
// revenue of the last 12 months.
type Point struct {
	DaysSince int
	Orders    int
	Monetary  decimal.Decimal
}

// Breaks are the cut points of the RFM quintiles and the ABC classes over
// all customers with orders. The store keeps the latest in the database
// so figures computed on apply are scored against them without reading
// every customer.
type Breaks struct {
	// R holds the 20/40/60/80% quantiles of -DaysSince (higher is better),
	// F of Orders, M of Monetary.
	R [4]decimal.Decimal `json:"r"`
	F [4]decimal.Decimal `json:"f"`
	M [4]decimal.Decimal `json:"m"`
	// A and B: the smallest base revenue still in class A and in class B.
	A decimal.Decimal `json:"a"`
	B decimal.Decimal `json:"b"`
	// Customers is how many customers with orders the breaks are cut from.
	Customers int `json:"customers"`
}

// quintiles returns the 20/40/60/80% cut points of vs (sorted in place).
func quintiles(vs []decimal.Decimal) [4]decimal.Decimal {
	var out [4]decimal.Decimal
	if len(vs) == 0 {
		return out
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].LessThan(vs[j]) })
	for k := 1; k <= 4; k++ {
		out[k-1] = vs[len(vs)*k/5]
	}
	return out
}

// Cut computes the breaks from every customer's point (customers without
// orders left out by the caller).
func Cut(points []Point, cfg Config) Breaks {
	b := Breaks{Customers: len(points)}
	r := make([]decimal.Decimal, len(points))
	f := make([]decimal.Decimal, len(points))
	m := make([]decimal.Decimal, len(points))
	for i, p := range points {
		r[i] = decimal.NewFromInt(int64(-p.DaysSince))
		f[i] = decimal.NewFromInt(int64(p.Orders))
		m[i] = p.Monetary
	}
	b.R, b.F = quintiles(r), quintiles(f)
	b.M = quintiles(m) // sorts m ascending
	total := decimal.Zero
	for _, v := range m {
		if v.IsPositive() {
			total = total.Add(v)
		}
	}
	if !total.IsPositive() {
		return b
	}
	// Largest first: a customer is A while the revenue of the customers
	// before it is below ABCShareA of the total (the one crossing the
	// line is A), B likewise up to ABCShareB.
	shareA, shareB := total.Mul(cfg.ABCShareA), total.Mul(cfg.ABCShareB)
	cum := decimal.Zero
	b.A, b.B = m[len(m)-1], m[len(m)-1]
	for i := len(m) - 1; i >= 0 && m[i].IsPositive(); i-- {
		switch {
		case cum.LessThan(shareA):
			b.A, b.B = m[i], m[i]
		case cum.LessThan(shareB):
			b.B = m[i]
		}
		cum = cum.Add(m[i])
	}
	return b
}

func score(v decimal.Decimal, cuts [4]decimal.Decimal) int {
	s := 1
	for _, c := range cuts {
		if v.GreaterThanOrEqual(c) {
			s++
		}
	}
	return s
}

// Score places one customer against the breaks. A customer without
// orders has no RFM and is class C; without breaks (no customer with
// orders yet) every customer is unscored.
func (b Breaks) Score(p Point) Segment {
	if b.Customers == 0 {
		return Segment{}
	}
	s := Segment{ABC: "C"}
	switch {
	case !p.Monetary.IsPositive():
	case p.Monetary.GreaterThanOrEqual(b.A):
		s.ABC = "A"
	case p.Monetary.GreaterThanOrEqual(b.B):
		s.ABC = "B"
	}
	if p.Orders == 0 {
		return s
	}
	s.Recency = score(decimal.NewFromInt(int64(-p.DaysSince)), b.R)
	s.Frequency = score(decimal.NewFromInt(int64(p.Orders)), b.F)
	s.Monetary = score(p.Monetary, b.M)
	s.RFM = fmt.Sprintf("%d%d%d", s.Recency, s.Frequency, s.Monetary)
	s.Name = SegmentName(s)
	return s
}

// PointOf is the distribution point of figures.
func PointOf(f *Figures) Point {
	m, _ := decimal.NewFromString(f.Revenue.Base12m.Amount)
	return Point{DaysSince: f.Loyalty.DaysSinceLastOrder, Orders: f.Revenue.Orders, Monetary: m}
}

// Segments are the named segments GET /v1/segments and the customer
// list's segment filter know, by RFM score ranges (a common naming: the
// first match in this order wins).
var Segments = []struct {
	Name string
	Test func(s Segment) bool
}{
	{"champions", func(s Segment) bool { return s.Recency >= 4 && s.Frequency >= 4 && s.Monetary >= 4 }},
	{"loyal", func(s Segment) bool { return s.Recency >= 3 && s.Frequency >= 4 }},
	{"big_spenders", func(s Segment) bool { return s.Monetary == 5 && s.Recency >= 3 }},
	{"promising", func(s Segment) bool { return s.Recency >= 4 && s.Frequency <= 2 }},
	{"needs_attention", func(s Segment) bool { return s.Recency == 3 }},
	{"cannot_lose", func(s Segment) bool { return s.Recency <= 2 && s.Frequency >= 4 }},
	{"hibernating", func(s Segment) bool { return s.Recency <= 2 }},
	{"other", func(Segment) bool { return true }},
}

// SegmentName names the segment of a scored customer ("" without RFM).
func SegmentName(s Segment) string {
	if s.RFM == "" {
		return ""
	}
	for _, x := range Segments {
		if x.Test(s) {
			return x.Name
		}
	}
	return ""
}
