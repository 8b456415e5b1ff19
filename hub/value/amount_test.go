package value

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
)

// edgeAmounts are amounts around the int64 form's limits: 18 and 19
// digits, mantissas near 2^62 and 2^63, many decimals, exponents, odd
// spellings decimal reads or refuses.
var edgeAmounts = []string{
	"0", "-0", "0.00", "-0.00", "1", "-1", ".5", "5.", "-.5", "007.50", "0.005", "-0.005", "0.0049", "-0.0051",
	"999999999999999999", "-999999999999999999", "1000000000000000000", "4611686018427387903", "4611686018427387904",
	"9223372036854775807", "-9223372036854775808", "9223372036854775808", "99999999999999999999999",
	"123456789012345678.9", "0.123456789012345678", "0.1234567890123456789", "0.0000000000000000001",
	"-0.00000000000000000005", "12.3456789012345678", "1e3", "1.5e-3", "-2E2", "+5", "", "-", ".", "1.2.3", "x", "1_000",
	"2305843009213693951.5", "461168601842738790.3", "46116860184273879.03",
}

// randomAmount is an edge amount, or a random one with up to 20 digits
// and up to 20 decimals.
func randomAmount(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return edgeAmounts[r.IntN(len(edgeAmounts))]
	}
	digits := 1 + r.IntN(20)
	b := make([]byte, 0, digits+2)
	if r.IntN(3) == 0 {
		b = append(b, '-')
	}
	point := -1
	if r.IntN(4) > 0 {
		point = r.IntN(digits + 1)
	}
	for i := range digits {
		if i == point {
			b = append(b, '.')
		}
		b = append(b, byte('0'+r.IntN(10)))
	}
	return string(b)
}

// TestAmountAsDecimal: every amount operation gives decimal's result, to
// the exponent, on both sides of the int64 form's limits.
func TestAmountAsDecimal(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 19))
	same := func(what string, a amount, d decimal.Decimal) {
		t.Helper()
		if got := a.dec(); !got.Equal(d) || got.Exponent() != d.Exponent() || a.scale() != max(-d.Exponent(), 0) {
			t.Fatalf("%s = %s (exp %d), decimal %s (exp %d)", what, got, got.Exponent(), d, d.Exponent())
		}
		for p := int32(0); p <= 20; p++ {
			if got, want := a.fixed(p), d.StringFixed(p); got != want {
				t.Fatalf("%s fixed(%d) = %s, decimal %s", what, p, got, want)
			}
		}
		if got, want := a.sign(), d.Sign(); got != want {
			t.Fatalf("%s sign = %d, decimal %d", what, got, want)
		}
	}
	for i := range 40000 {
		xs, ys := randomAmount(r), randomAmount(r)
		x, okx := parseAmount(xs)
		dx, errx := decimal.NewFromString(xs)
		if okx != (errx == nil) {
			t.Fatalf("parse %q: ok %v, decimal error %v", xs, okx, errx)
		}
		y, oky := parseAmount(ys)
		dy, erry := decimal.NewFromString(ys)
		if !okx || !oky || erry != nil {
			continue
		}
		same(fmt.Sprintf("case %d: %q", i, xs), x, dx)
		same(fmt.Sprintf("case %d: %q + %q", i, xs, ys), x.add(y), dx.Add(dy))
		same(fmt.Sprintf("case %d: %q - %q", i, xs, ys), x.sub(y), dx.Sub(dy))
		same(fmt.Sprintf("case %d: %q x %q", i, xs, ys), x.mul(y), dx.Mul(dy))
		same(fmt.Sprintf("case %d: |-%q|", i, xs), x.neg().abs(), dx.Neg().Abs())
		if got, want := x.cmp(y), dx.Cmp(dy); got != want {
			t.Fatalf("case %d: cmp(%q, %q) = %d, decimal %d", i, xs, ys, got, want)
		}
		if got, want := x.exact(), exactString(dx); got != want {
			t.Fatalf("case %d: exact(%q) = %q, want %q", i, xs, got, want)
		}
	}
}

// TestComputeFastAsDecimal: Compute with the int64 amounts returns what
// it returns with decimal amounts only, to the byte, on inputs whose
// amounts include sums past the int64 limits and many decimals.
func TestComputeFastAsDecimal(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Rates = map[string]decimal.Decimal{"CHF": decimal.RequireFromString("1.05")}
	r := rand.New(rand.NewPCG(23, 5))
	edge := func(s string) string {
		if r.IntN(4) == 0 {
			return randomAmount(r)
		}
		return s
	}
	for i := range 4000 {
		in := randomInput(r)
		if i%2 == 0 {
			for j := range in.Orders {
				o := &in.Orders[j]
				if o.Total != nil {
					o.Total.Amount = edge(o.Total.Amount)
				}
				for k := range o.Lines {
					l := &o.Lines[k]
					for _, m := range []*string{&l.Quantity} {
						*m = edge(*m)
					}
					if l.Amount != nil {
						l.Amount.Amount = edge(l.Amount.Amount)
					}
					if l.UnitPrice != nil {
						l.UnitPrice.Amount = edge(l.UnitPrice.Amount)
					}
					if l.Cost != nil {
						l.Cost.Amount = edge(l.Cost.Amount)
					}
				}
			}
			for j := range in.Payments {
				in.Payments[j].Amount.Amount = edge(in.Payments[j].Amount.Amount)
			}
		}
		fast, _ := json.Marshal(Compute(in, now, cfg))
		decimalOnly = true
		slow, _ := json.Marshal(Compute(in, now, cfg))
		decimalOnly = false
		if string(fast) != string(slow) {
			t.Fatalf("case %d: int64 amounts\n%s\ndecimal\n%s", i, fast, slow)
		}
	}
}

// benchInput is one customer of the store's BenchmarkApplyValue stream as
// facts: 6 orders with a costed line, 6 invoices, 4 payments, 1 case.
func benchInput() []string {
	var facts []string
	opened := now.AddDate(0, 0, -20)
	for o := range 6 {
		no := fmt.Sprintf("V1-%d", o)
		date := now.AddDate(0, -o*2, 0).Format("2006-01-02")
		amt := &hub.Money{Amount: fmt.Sprintf("%d.%02d", 21, o), Currency: "EUR"}
		facts = append(facts, OrderFact(&hub.Order{OrderNumber: no, OrderDate: date, Status: "delivered", Total: amt,
			Channel: []string{"web", "store", "phone"}[o%3], Region: "north",
			Lines: []hub.OrderLine{{Quantity: "1", Amount: amt, Category: []string{"tools", "paint", "garden", "wood"}[o%4], Cost: eur("10.00")}}}),
			PaymentFact(&hub.Payment{DocumentNumber: "I" + no, Type: "invoice", Date: date, DueDate: date, Amount: *amt}))
		if o < 4 {
			facts = append(facts, PaymentFact(&hub.Payment{DocumentNumber: "P" + no, Type: "payment", Date: date, Amount: *amt, Reference: "I" + no}))
		}
	}
	return append(facts, CaseFact(&hub.ServiceCase{Status: "open", OpenedAt: &opened}))
}

// BenchmarkCompute is reading one customer's facts and computing its
// figures, as the store's recompute does:
//
//	go test -run '^$' -bench Compute -benchmem ./hub/value
func BenchmarkCompute(b *testing.B) {
	// The store reads a customer's facts concatenated (AddFacts).
	facts, cfg := strings.Join(benchInput(), ""), DefaultConfig()
	b.ReportAllocs()
	for range b.N {
		in := Input{CreditLimit: eur("5000.00")}
		if err := in.AddFacts(facts); err != nil {
			b.Fatal(err)
		}
		Compute(in, now, cfg)
	}
}

// TestQuoFixedAsDecimal checks the int64 quotients against the decimal
// expression each replaced, on random operands (ties, signs, scales, and
// operands too large for int64, which take the decimal form).
func TestQuoFixedAsDecimal(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	ops := func() amount {
		switch r.IntN(6) {
		case 0:
			return amount{m: int64(r.IntN(17) - 8), s: int32(r.IntN(3))}
		case 1:
			return amount{m: r.Int64N(2_000_000_000) - 1_000_000_000, s: int32(r.IntN(5))}
		case 2:
			return amount{m: r.Int64N(1 << 62), s: int32(r.IntN(19))}
		case 3:
			return bigAmount(decimal.New(r.Int64N(1e6)-5e5, -int32(r.IntN(4))))
		}
		return amount{m: int64(r.IntN(20001) - 10000), s: int32(r.IntN(3))}
	}
	for i := range 200000 {
		a, b := ops(), ops()
		if b.sign() == 0 {
			continue
		}
		mul, places := []int64{1, 100}[r.IntN(2)], int32(1+r.IntN(2))
		want := a.dec().Div(b.dec()).Mul(decimal.NewFromInt(mul)).StringFixed(places)
		if got := quoFixed(a, b, mul, places); got != want {
			t.Fatalf("case %d: %s / %s x %d to %d places = %s, want %s", i, a.dec(), b.dec(), mul, places, got, want)
		}
	}
	for _, c := range [][3]int64{{1, 8, 2}, {-1, 8, 2}, {5, 2, 0}, {-5, 2, 0}, {1, 3, 2}, {2, 3, 2}, {-2, 3, 2}, {0, 7, 2}, {-1, 1000, 2}} {
		a, b, places := amount{m: c[0]}, amount{m: c[1]}, int32(c[2])
		want := a.dec().Div(b.dec()).StringFixed(places)
		if got := quoFixed(a, b, 1, places); got != want {
			t.Errorf("%d / %d to %d places = %s, want %s", c[0], c[1], places, got, want)
		}
	}
}
