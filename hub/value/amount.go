package value

import (
	"math/bits"

	"github.com/shopspring/decimal"
)

// amount is an exact decimal number as Compute needs it: m x 10^-s, an
// int64 and a scale, while it fits; a decimal.Decimal (big) otherwise.
// Compute adds a dozen amounts per order, and the decimal library
// allocates a big integer for every parse and every sum: the int64 form
// allocates nothing. Every operation checks for overflow and falls back
// to the decimal form, so the results are those of decimal arithmetic
// whatever the amounts (TestAmountAsDecimal, TestComputeFastAsDecimal):
// the scale of a sum is the larger scale of its terms, as decimal.Add's
// exponent is the smaller exponent, and rounding is decimal's (half away
// from zero).
type amount struct {
	m   int64
	s   int32
	big bool
	d   decimal.Decimal // the value when big
}

// maxMant bounds |m| so that a sum of two mantissas cannot overflow and
// negation is always exact.
const maxMant = 1 << 62

// decimalOnly makes every amount take the decimal form: the tests compare
// the two forms.
var decimalOnly bool

var pow10 = func() (p [19]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

func bigAmount(d decimal.Decimal) amount { return amount{big: true, d: d} }

// parseAmount reads s as decimal.NewFromString does; ok is false where
// that fails. Plain numbers ("-12.50") of up to 18 digits are read
// without the library.
func parseAmount(s string) (amount, bool) {
	if !decimalOnly {
		if a, ok := parsePlain(s); ok {
			return a, true
		}
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return amount{}, false
	}
	return bigAmount(d), true
}

// parsePlain reads an optional minus, digits and an optional point with
// digits, at least one digit in all, at most 18.
func parsePlain(s string) (amount, bool) {
	i, neg := 0, false
	if i < len(s) && s[i] == '-' {
		neg, i = true, i+1
	}
	var (
		m      uint64
		digits int
		scale  int32
		point  bool
	)
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			if digits > 18 {
				return amount{}, false
			}
			m = m*10 + uint64(c-'0')
			if point {
				scale++
			}
		case c == '.' && !point:
			point = true
		default:
			return amount{}, false
		}
	}
	if digits == 0 {
		return amount{}, false
	}
	a := amount{m: int64(m), s: scale}
	if neg {
		a.m = -a.m
	}
	return a, true
}

// dec is a as a decimal.Decimal, with the same exponent.
func (a amount) dec() decimal.Decimal {
	if a.big {
		return a.d
	}
	return decimal.New(a.m, -a.s)
}

// scale is the number of digits after the point (0 for a positive
// exponent), what a sum keeps the largest of.
func (a amount) scale() int32 {
	if a.big {
		return max(-a.d.Exponent(), 0)
	}
	return a.s
}

func (a amount) sign() int {
	if a.big {
		return a.d.Sign()
	}
	switch {
	case a.m < 0:
		return -1
	case a.m > 0:
		return 1
	}
	return 0
}

func (a amount) neg() amount {
	if a.big {
		return bigAmount(a.d.Neg())
	}
	a.m = -a.m
	return a
}

func (a amount) abs() amount {
	if a.sign() < 0 {
		return a.neg()
	}
	return a
}

// rescaled is a's mantissa at scale s >= a.s; ok is false on overflow.
func (a amount) rescaled(s int32) (int64, bool) {
	k := s - a.s
	if k == 0 {
		return a.m, true
	}
	if k >= int32(len(pow10)) {
		return 0, a.m == 0
	}
	u := uint64(a.m)
	if a.m < 0 {
		u = uint64(-a.m)
	}
	hi, lo := bits.Mul64(u, pow10[k])
	if hi != 0 || lo >= maxMant {
		return 0, false
	}
	if a.m < 0 {
		return -int64(lo), true
	}
	return int64(lo), true
}

func (a amount) add(b amount) amount {
	if !a.big && !b.big {
		s := max(a.s, b.s)
		x, ok1 := a.rescaled(s)
		y, ok2 := b.rescaled(s)
		if ok1 && ok2 {
			if m := x + y; m < maxMant && m > -maxMant {
				return amount{m: m, s: s}
			}
		}
	}
	return bigAmount(a.dec().Add(b.dec()))
}

func (a amount) sub(b amount) amount { return a.add(b.neg()) }

func (a amount) mul(b amount) amount {
	if !a.big && !b.big && a.s+b.s < 1<<20 {
		x, y := uint64(a.m), uint64(b.m)
		if a.m < 0 {
			x = uint64(-a.m)
		}
		if b.m < 0 {
			y = uint64(-b.m)
		}
		if hi, lo := bits.Mul64(x, y); hi == 0 && lo < maxMant {
			m := int64(lo)
			if (a.m < 0) != (b.m < 0) {
				m = -m
			}
			return amount{m: m, s: a.s + b.s}
		}
	}
	return bigAmount(a.dec().Mul(b.dec()))
}

// cmp compares a and b: -1, 0 or +1.
func (a amount) cmp(b amount) int {
	if !a.big && !b.big {
		s := max(a.s, b.s)
		x, ok1 := a.rescaled(s)
		y, ok2 := b.rescaled(s)
		if ok1 && ok2 {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	return a.dec().Cmp(b.dec())
}

// fixed prints a with places digits after the point, rounded half away
// from zero as decimal.StringFixed does.
func (a amount) fixed(places int32) string {
	if a.big || places < 0 || places > 18 {
		return a.dec().StringFixed(places)
	}
	m, s := a.m, a.s
	neg := m < 0
	u := uint64(m)
	if neg {
		u = uint64(-m)
	}
	if s > places {
		k := s - places
		if k > 19 {
			u = 0 // |a| < 10^-(places+1): rounds to zero
		} else {
			var q, r uint64
			if k == 19 {
				q, r = 0, u // u < 10^19
				if r >= 5*pow10[18] {
					q = 1
				}
			} else {
				q, r = u/pow10[k], u%pow10[k]
				if r >= 5*pow10[k-1] {
					q++
				}
			}
			u = q
		}
		s = places
	}
	return fixedString(u, s, places, neg)
}

// fixedString prints u x 10^-s (s <= places) with places digits after the
// point, negative if neg and not a rounded zero. It is built from the end
// of a buffer: one allocation, the string.
func fixedString(u uint64, s, places int32, neg bool) string {
	var buf [48]byte
	i := len(buf)
	for range places - s {
		i--
		buf[i] = '0'
	}
	for k := int32(0); k < s; k++ {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	if places > 0 {
		i--
		buf[i] = '.'
	}
	zero := q0(u, buf[i:])
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg && !zero {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

// q0 reports whether the integer part u and the digits after the point
// (frac, with its '.') are all zero: a rounded zero prints unsigned.
func q0(u uint64, frac []byte) bool {
	if u != 0 {
		return false
	}
	for _, c := range frac {
		if c != '0' && c != '.' {
			return false
		}
	}
	return true
}

// exact prints a so that reading it back gives the same value and the
// same number of digits after the point.
func (a amount) exact() string {
	if a.big {
		return exactString(a.d)
	}
	return a.fixed(a.s)
}

// Amount is an exact decimal number for sums outside this package (the
// store's revenue totals): int64 arithmetic while it fits, decimal's
// otherwise, decimal's results either way.
type Amount struct{ a amount }

// ParseAmount reads s as decimal.NewFromString does.
func ParseAmount(s string) (Amount, bool) {
	a, ok := parseAmount(s)
	return Amount{a}, ok
}

// Add returns x + y.
func (x Amount) Add(y Amount) Amount { return Amount{x.a.add(y.a)} }

// Neg returns -x.
func (x Amount) Neg() Amount { return Amount{x.a.neg()} }

// IsZero reports whether x is 0.
func (x Amount) IsZero() bool { return x.a.sign() == 0 }

// Decimal is x as a decimal.Decimal.
func (x Amount) Decimal() decimal.Decimal { return x.a.dec() }

// quoFixed is a / b x mul printed with places digits after the point, as
// a.dec().Div(b.dec()).Mul(mul).StringFixed(places) prints it (the
// averages, shares and percentages of the figures): in int64 where the
// operands are small, without the decimal library's allocations. The
// result is the exact quotient rounded half away from zero, which is what
// the decimal form gives: it rounds to 16 places first, and a quotient
// num/den with den < 10^13 is either a tie or at least 1/(2 den) away from
// one, far more than that first rounding moves it (at most 5 x 10^-14 in
// units of the last printed place, for mul x 10^places <= 1000).
func quoFixed(a, b amount, mul int64, places int32) string {
	if s, ok := quoFixedInt(a, b, mul, places); ok {
		return s
	}
	d := a.dec().Div(b.dec())
	if mul != 1 {
		d = d.Mul(decimal.NewFromInt(mul))
	}
	return d.StringFixed(places)
}

func quoFixedInt(a, b amount, mul int64, places int32) (string, bool) {
	const lim = 1_000_000_000
	if a.big || b.big || a.m <= -lim || a.m >= lim || b.m <= -lim || b.m >= lim || b.m == 0 ||
		mul < 1 || mul > 100 || places < 0 || places > 2 {
		return "", false
	}
	// a/b x mul x 10^places = a.m x mul x 10^e / b.m
	num, den := a.m*mul, b.m
	switch e := b.s - a.s + places; {
	case e < -6 || e > 6:
		return "", false
	case e >= 0:
		num *= int64(pow10[e])
	default:
		den *= int64(pow10[-e])
	}
	if den < 0 {
		num, den = -num, -den
	}
	if den >= 10_000_000_000_000 {
		return "", false
	}
	q, r := num/den, num%den
	if r < 0 {
		r = -r
	}
	if 2*r >= den { // half away from zero
		if num < 0 {
			q--
		} else {
			q++
		}
	}
	neg := q < 0
	u := uint64(q)
	if neg {
		u = uint64(-q)
	}
	return fixedString(u, places, places, neg), true
}
