package value

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
)

// A fact is one order, payment or service case reduced to what Compute
// reads of it, in a compact text the store keeps per source record
// (value_facts) and reads back instead of the record's JSON: decoding the
// records of a customer on every recompute was a third of its cost.
//
// Orders are reduced, not copied: the total is the amount Compute would
// take (the total, or the sum of the readable lines in the first line
// currency) and the lines are the readable ones with their amount and,
// where Compute counts it, their cost, so the amounts need no second
// look at unit prices and quantities. Amounts keep their exact decimal
// form (digits after the point included), since a sum prints with the
// largest scale of its inputs. Payments and cases keep the fields Compute
// reads as they are. AddFact turns a fact back into an Input entry, and
// Compute over such entries returns what it returns over the records
// (TestFactsComputeAsRecords).
//
// The text is a kind byte ('o', 'p', 'c') and length-prefixed fields
// ("5:tools"), so any byte a source sends in a field survives.

// OrderFact is the fact of o.
func OrderFact(o *hub.Order) string {
	w := factWriter{b: make([]byte, 0, 96)}
	w.b = append(w.b, 'o')
	w.str(o.OrderNumber)
	w.str(o.Status)
	w.str(o.OrderDate)
	w.str(o.Channel)
	w.str(o.Region)
	if amt, cur, ok := orderAmount(o); ok {
		w.str(amt.exact())
		w.str(cur)
	} else {
		w.str("")
		w.str("")
	}
	var lines []int
	for i := range o.Lines {
		if _, _, ok := lineAmount(&o.Lines[i]); ok {
			lines = append(lines, i)
		}
	}
	w.int(int64(len(lines)))
	for _, i := range lines {
		l := &o.Lines[i]
		la, lc, _ := lineAmount(l)
		if _, ok := parseMoney(l.Amount); ok {
			w.str(l.Amount.Amount) // as sent: the same decimal read again
		} else {
			w.str(la.exact())
		}
		w.str(lc)
		w.str(l.Category)
		if _, ok := parseMoney(l.Cost); ok && l.Cost.Currency == lc {
			w.str(l.Cost.Amount)
		} else {
			w.str("")
		}
	}
	return string(w.b)
}

// PaymentFact is the fact of an invoice, payment or credit note.
func PaymentFact(p *hub.Payment) string {
	w := factWriter{b: make([]byte, 0, 80)}
	w.b = append(w.b, 'p')
	for _, s := range []string{p.DocumentNumber, p.Type, p.Status, p.Reference, p.Amount.Amount, p.Amount.Currency, p.Date, p.DueDate} {
		w.str(s)
	}
	return string(w.b)
}

// CaseFact is the fact of a service case.
func CaseFact(c *hub.ServiceCase) string {
	w := factWriter{b: make([]byte, 0, 48)}
	w.b = append(w.b, 'c')
	w.str(c.Status)
	w.time(c.OpenedAt)
	w.time(c.ClosedAt)
	return string(w.b)
}

// exactString prints d so that reading it back gives the same value and
// the same number of digits after the point.
func exactString(d decimal.Decimal) string {
	if e := d.Exponent(); e < 0 {
		return d.StringFixed(-e)
	}
	return d.String()
}

// AddFact appends the record fact describes to in.
func (in *Input) AddFact(fact string) error {
	r := factReader{s: fact}
	if err := in.addFact(&r, nil); err != nil {
		return err
	}
	if r.s != "" {
		return fmt.Errorf("value fact %q: trailing bytes", fact[0])
	}
	return nil
}

// AddFacts appends the records of facts, a concatenation of facts (as
// the store's recompute reads a customer's facts, in one string per
// customer), to in. A fact is self-delimiting: its kind fixes its
// fields, and an order's fields say how many lines follow.
//
// The facts are counted first (their fields read, nothing allocated), so
// the lists grow once and the orders' lines and amounts come from one
// array each: growing the lists by appending and two arrays per order
// were most of reading a customer's facts.
func (in *Input) AddFacts(facts string) error {
	n := countFacts(facts)
	in.Orders = slices.Grow(in.Orders, n.orders)
	in.Payments = slices.Grow(in.Payments, n.payments)
	in.Cases = slices.Grow(in.Cases, n.cases)
	sl := &factSlab{ms: make([]hub.Money, n.orders+2*n.lines), lines: make([]hub.OrderLine, n.lines)}
	r := factReader{s: facts}
	for r.s != "" {
		if err := in.addFact(&r, sl); err != nil {
			return err
		}
	}
	return nil
}

// factCounts are how many records and order lines a run of facts holds.
type factCounts struct{ orders, payments, cases, lines int }

// countFacts counts the facts of a run up to the first damaged one (which
// AddFacts then reports).
func countFacts(facts string) factCounts {
	var n factCounts
	r := factReader{s: facts}
	for r.s != "" && r.err == nil {
		kind := r.s[0]
		r.s = r.s[1:]
		switch kind {
		case 'o':
			r.skip(7)
			lines := r.int()
			if r.err != nil || lines < 0 || lines > int64(len(r.s)) {
				return n
			}
			r.skip(4 * int(lines))
			n.orders++
			n.lines += int(lines)
		case 'p':
			r.skip(8)
			n.payments++
		case 'c':
			r.skip(3)
			n.cases++
		default:
			return n
		}
	}
	return n
}

// factSlab is where the orders of a run of facts take their lines and
// amounts from: slices of one array each, not two arrays per order.
type factSlab struct {
	ms    []hub.Money
	lines []hub.OrderLine
}

// take cuts the first n amounts and lines off the slab, or allocates them
// when it has too few (or is nil: a single fact).
func (sl *factSlab) take(nm, nl int) ([]hub.Money, []hub.OrderLine) {
	if sl == nil || len(sl.ms) < nm || len(sl.lines) < nl {
		return make([]hub.Money, nm), make([]hub.OrderLine, nl)
	}
	ms, lines := sl.ms[:nm:nm], sl.lines[:nl:nl]
	sl.ms, sl.lines = sl.ms[nm:], sl.lines[nl:]
	return ms, lines
}

// addFact appends the record of the fact r is at, leaving r after it;
// an order takes its lines and amounts from sl.
func (in *Input) addFact(r *factReader, sl *factSlab) error {
	if r.s == "" {
		return errors.New("value fact: empty")
	}
	kind := r.s[0]
	r.s = r.s[1:]
	switch kind {
	case 'o':
		o := hub.Order{OrderNumber: r.str(), Status: r.str(), OrderDate: r.str(), Channel: r.str(), Region: r.str()}
		amt, cur := r.str(), r.str()
		n := int(r.int())
		if r.err == nil && n < 0 {
			r.err = fmt.Errorf("%d lines", n)
		}
		if r.err != nil {
			n = 0 // the error is returned below
		}
		if n > len(r.s) {
			return fmt.Errorf("value fact: %d lines in %d bytes", n, len(r.s))
		}
		// The order's amounts in one array: the total, then each line's
		// amount and cost.
		ms, lines := sl.take(1+2*n, n)
		if cur != "" {
			ms[0] = hub.Money{Amount: amt, Currency: cur}
			o.Total = &ms[0]
		}
		if n > 0 {
			o.Lines = lines
			for i := range o.Lines {
				l := &o.Lines[i]
				amt, cur := r.str(), r.str()
				ms[1+2*i] = hub.Money{Amount: amt, Currency: cur}
				l.Amount, l.Category = &ms[1+2*i], r.str()
				if c := r.str(); c != "" {
					ms[2+2*i] = hub.Money{Amount: c, Currency: cur}
					l.Cost = &ms[2+2*i]
				}
			}
		}
		in.Orders = append(in.Orders, o)
	case 'p':
		p := hub.Payment{DocumentNumber: r.str(), Type: r.str(), Status: r.str(), Reference: r.str(),
			Amount: hub.Money{Amount: r.str(), Currency: r.str()}, Date: r.str(), DueDate: r.str()}
		in.Payments = append(in.Payments, p)
	case 'c':
		c := hub.ServiceCase{Status: r.str(), OpenedAt: r.time(), ClosedAt: r.time()}
		in.Cases = append(in.Cases, c)
	default:
		return fmt.Errorf("value fact: unknown kind %q", kind)
	}
	if r.err != nil {
		return fmt.Errorf("value fact %q: %w", kind, r.err)
	}
	return nil
}

type factWriter struct{ b []byte }

func (w *factWriter) str(s string) {
	w.b = strconv.AppendInt(w.b, int64(len(s)), 10)
	w.b = append(w.b, ':')
	w.b = append(w.b, s...)
}

func (w *factWriter) int(n int64) { w.str(strconv.FormatInt(n, 10)) }

// time writes an instant as Unix seconds and nanoseconds ("" for none):
// Compute only compares instants and takes their differences.
func (w *factWriter) time(t *time.Time) {
	if t == nil {
		w.str("")
		return
	}
	w.str(strconv.FormatInt(t.Unix(), 10) + "." + strconv.Itoa(t.Nanosecond()))
}

type factReader struct {
	s   string
	err error
}

func (r *factReader) str() string {
	if r.err != nil {
		return ""
	}
	i := 0
	for i < len(r.s) && r.s[i] != ':' {
		i++
	}
	n, err := strconv.Atoi(r.s[:i])
	if err != nil || i == len(r.s) || n < 0 || n > len(r.s)-i-1 {
		r.err = fmt.Errorf("bad field at %q", r.s)
		return ""
	}
	out := r.s[i+1 : i+1+n]
	r.s = r.s[i+1+n:]
	return out
}

// skip passes n fields.
func (r *factReader) skip(n int) {
	for range n {
		r.str()
	}
}

func (r *factReader) int() int64 {
	n, err := strconv.ParseInt(r.str(), 10, 64)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n
}

func (r *factReader) time() *time.Time {
	s := r.str()
	if s == "" || r.err != nil {
		return nil
	}
	sec, nsec, ok := cutInts(s)
	if !ok {
		r.err = fmt.Errorf("bad instant %q", s)
		return nil
	}
	t := time.Unix(sec, nsec).UTC()
	return &t
}

func cutInts(s string) (int64, int64, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			a, err1 := strconv.ParseInt(s[:i], 10, 64)
			b, err2 := strconv.ParseInt(s[i+1:], 10, 64)
			return a, b, err1 == nil && err2 == nil
		}
	}
	return 0, 0, false
}
