package value

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
)

// Input is everything the figures of one golden customer are computed
// from: the live orders, payments and cases linked to any of its source
// records, and its golden credit limit.
type Input struct {
	Orders      []hub.Order
	Payments    []hub.Payment
	Cases       []hub.ServiceCase
	CreditLimit *hub.Money
}

const day = 24 * time.Hour

// dayOf reads a YYYY-MM-DD date (a longer timestamp is cut to its date).
// A date of eight digits is read by hand, checked as time.Parse checks it
// (month 1-12, day within the month): Compute reads each record's dates
// several times, and time.Parse was a tenth of it. Anything else (a
// signed year, a typo) goes to time.Parse, which decides.
func dayOf(s string) (time.Time, bool) {
	if len(s) < 10 {
		return time.Time{}, false
	}
	if y, m, d, ok := digitsDate(s); ok {
		if m < 1 || m > 12 || d < 1 || d > daysIn(time.Month(m), y) {
			return time.Time{}, false
		}
		return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
	}
	t, err := time.Parse(time.DateOnly, s[:10])
	return t, err == nil
}

// digitsDate splits a "dddd-dd-dd" prefix of s into its numbers.
func digitsDate(s string) (y, m, d int, ok bool) {
	if s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	n := 0
	for i := range 10 {
		if i == 4 || i == 7 {
			continue
		}
		c := s[i]
		if c < '0' || c > '9' {
			return 0, 0, 0, false
		}
		n = n*10 + int(c-'0')
		switch i {
		case 3:
			y, n = n, 0
		case 6:
			m, n = n, 0
		}
	}
	return y, m, n, true
}

// daysIn is the number of days of month m in year y.
func daysIn(m time.Month, y int) int {
	if m == time.February {
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	}
	return 31 - int(m-1)%7%2
}

// monthOf is the YYYY-MM of a date, "" if it is none.
func monthOf(s string) string {
	if _, ok := dayOf(s); !ok {
		return ""
	}
	return s[:7]
}

func days(from, to time.Time) int { return int(to.Sub(from) / day) }

func cancelled(status string) bool {
	switch strings.ToLower(status) {
	case "cancelled", "canceled", "void":
		return true
	}
	return false
}

// Compute returns the figures of in as of now's UTC day. The result does
// not depend on the order of the input lists: every sum is exact, every
// list is sorted, and ties are broken by document number.
func Compute(in Input, now time.Time, cfg Config) Figures {
	today := now.UTC().Truncate(day)
	f := Figures{AsOf: today.Format(time.DateOnly)}
	computeRevenue(&f, in.Orders, in.Payments, today, cfg)
	computePayments(&f.Payments, in.Payments, in.CreditLimit, today)
	computeService(&f.Service, in.Cases, today)
	computeLoyalty(&f.Loyalty, in.Orders, today, cfg)
	return f
}

// orderAmount is the order's amount: its total, or else the sum of its
// lines (amount, or quantity x unit price) in the first line currency.
func orderAmount(o *hub.Order) (amount, string, bool) {
	if d, ok := parseMoney(o.Total); ok {
		return d, o.Total.Currency, true
	}
	var (
		total amount
		cur   string
		any   bool
	)
	for i := range o.Lines {
		d, c, ok := lineAmount(&o.Lines[i])
		if !ok || cur != "" && c != cur {
			continue
		}
		total, cur, any = total.add(d), c, true
	}
	return total, cur, any
}

func lineAmount(l *hub.OrderLine) (amount, string, bool) {
	if d, ok := parseMoney(l.Amount); ok {
		return d, l.Amount.Currency, true
	}
	p, ok := parseMoney(l.UnitPrice)
	if !ok {
		return amount{}, "", false
	}
	q, ok := parseAmount(l.Quantity)
	if !ok {
		return amount{}, "", false
	}
	return p.mul(q), l.UnitPrice.Currency, true
}

// computeRevenue fills revenue and margin. Credit notes naming an order
// left out (cancelled or returned) do not subtract a second time.
func computeRevenue(f *Figures, orders []hub.Order, payments []hub.Payment, today time.Time, cfg Config) {
	life, last12 := sums{}, sums{}
	n := len(orders)
	// The eight dimension lists are carved from one array (a list
	// outgrowing its share, categories of many lines, moves out).
	all := make(dimSums, 8*n+len(payments))
	carve := func(size int) dimSums {
		d := all[:0:size]
		all = all[size:]
		return d
	}
	cats, chans, regions, months := carve(n), carve(n), carve(n), carve(n+len(payments))
	mRev, mCost := sums{}, sums{}
	mCats, mChans, mRegions, mMonths := carve(n), carve(n), carve(n), carve(n)
	var lines, costed int
	excluded := map[string]bool{}
	cutoff := today.AddDate(0, 0, -365)
	recent := func(date string) bool {
		t, ok := dayOf(date)
		return ok && t.After(cutoff) && !t.After(today)
	}
	r := &f.Revenue
	aovN := map[string]int{}
	for i := range orders {
		o := &orders[i]
		status := strings.ToLower(o.Status)
		if cancelled(status) || status == "returned" {
			excluded[o.OrderNumber] = true
			if status == "returned" {
				r.Returns++
			}
			continue
		}
		amt, cur, ok := orderAmount(o)
		if ok && amt.sign() < 0 {
			r.Returns++ // a return order: subtracts, is no order
		} else {
			r.Orders++
			if _, ok := dayOf(o.OrderDate); ok {
				if r.FirstOrder == "" || o.OrderDate[:10] < r.FirstOrder {
					r.FirstOrder = o.OrderDate[:10]
				}
				if o.OrderDate[:10] > r.LastOrder {
					r.LastOrder = o.OrderDate[:10]
				}
			}
			if ok {
				aovN[cur]++
			}
		}
		if !ok {
			continue
		}
		life.add(cur, amt)
		if recent(o.OrderDate) {
			last12.add(cur, amt)
		}
		months.add(monthOf(o.OrderDate), cur, amt)
		chans.add(o.Channel, cur, amt)
		regions.add(o.Region, cur, amt)
		for j := range o.Lines {
			l := &o.Lines[j]
			la, lc, ok := lineAmount(l)
			if !ok {
				continue
			}
			cats.add(l.Category, lc, la)
			lines++
			if c, ok := parseMoney(l.Cost); ok && l.Cost.Currency == lc {
				costed++
				if la.sign() < 0 && c.sign() > 0 {
					c = c.neg() // a returned line gives its cost back
				}
				mRev.add(lc, la)
				mCost.add(lc, c)
				m := la.sub(c)
				mCats.add(l.Category, lc, m)
				mChans.add(o.Channel, lc, m)
				mRegions.add(o.Region, lc, m)
				mMonths.add(monthOf(o.OrderDate), lc, m)
			}
		}
	}
	for i := range payments {
		p := &payments[i]
		if p.Type != "credit_note" || cancelled(p.Status) || excluded[p.Reference] {
			continue
		}
		d, ok := parseMoney(&p.Amount)
		if !ok {
			continue
		}
		d = d.abs().neg()
		life.add(p.Amount.Currency, d)
		months.add(monthOf(p.Date), p.Amount.Currency, d)
		if recent(p.Date) {
			last12.add(p.Amount.Currency, d)
		}
	}
	r.Lifetime, r.Last12m = life.list(), last12.list()
	var miss1, miss2 []string
	r.BaseLifetime, miss1 = life.base(cfg)
	r.Base12m, miss2 = last12.base(cfg)
	r.Unconverted = mergeSorted(miss1, miss2)
	r.AOV = make([]hub.Money, 0, len(r.Lifetime))
	for _, m := range r.Lifetime {
		if n := aovN[m.Currency]; n > 0 {
			r.AOV = append(r.AOV, hub.Money{Amount: quoFixed(life.get(m.Currency), amount{m: int64(n)}, 1, 2), Currency: m.Currency})
		}
	}
	// The amounts of all dimensions' lists share one array too.
	out := make([]hub.Money, 0, len(cats)+len(chans)+len(regions)+len(months)+len(mCats)+len(mChans)+len(mRegions)+len(mMonths))
	r.ByCategory, r.ByChannel, r.ByRegion, r.ByMonth = cats.lists(&out), chans.lists(&out), regions.lists(&out), months.lists(&out)
	if costed > 0 {
		m := &Margin{Revenue: mRev.list(), Cost: mCost.list(), Percent: map[string]string{}}
		margin := sums{}
		for _, x := range mRev {
			cur := x.cur
			margin.add(cur, x.d)
			margin.add(cur, mCost.get(cur).neg())
			if x.d.sign() != 0 {
				m.Percent[cur] = quoFixed(margin.get(cur), x.d, 100, 1)
			}
		}
		m.Margin = margin.list()
		m.Coverage = quoFixed(amount{m: int64(costed)}, amount{m: int64(lines)}, 1, 2)
		m.ByCategory, m.ByChannel, m.ByRegion, m.ByMonth = mCats.lists(&out), mChans.lists(&out), mRegions.lists(&out), mMonths.lists(&out)
		f.Margin = m
	}
}

func mergeSorted(a, b []string) []string {
	out := append(append([]string(nil), a...), b...)
	sort.Strings(out)
	j := 0
	for i := range out {
		if i == 0 || out[i] != out[j-1] {
			out[j] = out[i]
			j++
		}
	}
	if j == 0 {
		return nil
	}
	return out[:j]
}

// settlement is a payment or credit note that names the invoice it settles.
type settlement struct {
	date, doc string
	amt       amount
}

func computePayments(p *Payments, docs []hub.Payment, limit *hub.Money, today time.Time) {
	open := sums{}
	type invoiceKey struct{ doc, cur string }
	settles := map[invoiceKey][]settlement{} // invoice number and currency -> settlements
	var invoices []*hub.Payment
	for i := range docs {
		d := &docs[i]
		if cancelled(d.Status) {
			continue
		}
		amt, ok := parseMoney(&d.Amount)
		if !ok {
			continue
		}
		amt = amt.abs()
		if d.Type == "invoice" {
			open.add(d.Amount.Currency, amt)
			invoices = append(invoices, d)
			continue
		}
		open.add(d.Amount.Currency, amt.neg())
		if d.Reference != "" {
			k := invoiceKey{d.Reference, d.Amount.Currency}
			settles[k] = append(settles[k], settlement{date: d.Date, doc: d.DocumentNumber, amt: amt})
		}
	}
	p.OpenBalance = open.list()
	overdue := sums{}
	var (
		totalDays, paid, late int
		worst                 = -1
	)
	for _, inv := range invoices {
		p.Invoices++
		amt, _ := parseMoney(&inv.Amount)
		amt = amt.abs()
		ss := settles[invoiceKey{inv.DocumentNumber, inv.Amount.Currency}]
		slices.SortFunc(ss, func(a, b settlement) int {
			if c := strings.Compare(a.date, b.date); c != 0 {
				return c
			}
			return strings.Compare(a.doc, b.doc)
		})
		settled, paidOn := amount{}, ""
		for _, s := range ss {
			settled = settled.add(s.amt)
			if settled.cmp(amt) >= 0 {
				paidOn = s.date
				break
			}
		}
		status := strings.ToLower(inv.Status)
		if paidOn == "" && status == "paid" {
			settled = amt // paid by the source's word, date unknown
		}
		if rest := amt.sub(settled); rest.sign() > 0 {
			if due, ok := dayOf(inv.DueDate); ok && due.Before(today) {
				overdue.add(inv.Amount.Currency, rest)
			}
		}
		issued, ok1 := dayOf(inv.Date)
		paidAt, ok2 := dayOf(paidOn)
		if !ok1 || !ok2 {
			continue
		}
		paid++
		n := max(days(issued, paidAt), 0)
		totalDays += n
		worst = max(worst, n)
		if due, ok := dayOf(inv.DueDate); ok && paidAt.After(due) {
			late++
		}
	}
	// Payments that name no invoice lower the open balance but no
	// invoice's rest: overdue never exceeds what is open.
	for i := range overdue {
		x := &overdue[i]
		if o := open.get(x.cur); x.d.cmp(o) > 0 {
			if o.sign() < 0 {
				o = amount{}
			}
			x.d = o
		}
	}
	p.OverdueBalance = overdue.list()
	p.PaidInvoices = paid
	if paid > 0 {
		avg := quoFixed(amount{m: int64(totalDays)}, amount{m: int64(paid)}, 1, 1)
		share := quoFixed(amount{m: int64(late)}, amount{m: int64(paid)}, 1, 2)
		p.AvgDaysToPay, p.WorstDaysToPay, p.ShareLate = &avg, &worst, &share
	}
	if l, ok := parseMoney(limit); ok && l.sign() > 0 {
		o := open.get(limit.Currency)
		if o.sign() < 0 {
			o = amount{}
		}
		use := quoFixed(o, l, 1, 2)
		p.CreditLimitUse = &use
	}
}

func computeService(s *Service, cases []hub.ServiceCase, today time.Time) {
	var hours decimal.Decimal
	var n int64
	since := today.AddDate(0, 0, -90)
	for i := range cases {
		c := &cases[i]
		switch strings.ToLower(c.Status) {
		case "open", "pending":
			s.Open++
		case "resolved", "closed":
			s.Closed++
			if c.OpenedAt != nil && c.ClosedAt != nil && !c.ClosedAt.Before(*c.OpenedAt) {
				hours = hours.Add(decimal.NewFromInt(int64(c.ClosedAt.Sub(*c.OpenedAt) / time.Second)).Div(decimal.NewFromInt(3600)))
				n++
			}
		}
		if c.OpenedAt != nil && !c.OpenedAt.Before(since) {
			s.Last90d++
		}
	}
	if n > 0 {
		avg := hours.Div(decimal.NewFromInt(n)).StringFixed(1)
		s.AvgHoursToClose = &avg
	}
}

// orderDays are the distinct days of the counted orders, ascending.
func orderDays(orders []hub.Order) []time.Time {
	var out []time.Time
	for i := range orders {
		o := &orders[i]
		status := strings.ToLower(o.Status)
		if cancelled(status) || status == "returned" {
			continue
		}
		if amt, _, ok := orderAmount(o); ok && amt.sign() < 0 {
			continue
		}
		if t, ok := dayOf(o.OrderDate); ok {
			out = append(out, t)
		}
	}
	// Each day once, in order: sorted, then the repeats dropped (no set
	// to allocate; the days are UTC midnights, equal as values).
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, time.Time.Equal)
}

// medianGap is the median gap in days between consecutive days (the
// lower middle for an even count, so it is a gap that happened); 0 for
// fewer than two days.
func medianGap(ds []time.Time) int {
	if len(ds) < 2 {
		return 0
	}
	gaps := make([]int, len(ds)-1)
	for i := 1; i < len(ds); i++ {
		gaps[i-1] = days(ds[i-1], ds[i])
	}
	sort.Ints(gaps)
	return gaps[(len(gaps)-1)/2]
}

// Thresholds are the at-risk and lapsed limits, in days since the last
// order, for a purchase interval (0: none known).
func (c Config) Thresholds(interval int) (atRisk, lapsed int) {
	if interval <= 0 {
		interval = c.DefaultIntervalDays
	}
	atRisk, lapsed = ceilTimes(c.AtRiskFactor, interval), ceilTimes(c.LapsedFactor, interval)
	lapsed = min(lapsed, c.LapsedDays)
	atRisk = min(atRisk, lapsed)
	return atRisk, lapsed
}

// ceilTimes is the ceiling of f x n. Factors are small decimals ("2",
// "1.5"): their product is done in int64 where it cannot overflow, without
// the decimal allocations (Thresholds runs twice per recompute); the
// decimal product is the fallback and the definition.
func ceilTimes(f decimal.Decimal, n int) int {
	if c := f.Coefficient(); c.IsInt64() && n >= 0 && n < 1<<20 {
		if x, e := c.Int64(), f.Exponent(); x >= -(1<<40) && x <= 1<<40 && e >= -9 && e <= 0 {
			p, div := x*int64(n), int64(1)
			for range -e {
				div *= 10
			}
			q := p / div
			if p%div != 0 && p > 0 {
				q++ // the ceiling of a positive fraction
			}
			return int(q)
		}
	}
	return int(f.Mul(decimal.NewFromInt(int64(n))).Ceil().IntPart())
}

func computeLoyalty(l *Loyalty, orders []hub.Order, today time.Time, cfg Config) {
	ds := orderDays(orders)
	if len(ds) == 0 {
		l.Stage = StageNone
		return
	}
	first, last := ds[0], ds[len(ds)-1]
	l.FirstOrder, l.LastOrder = first.Format(time.DateOnly), last.Format(time.DateOnly)
	l.TenureDays = max(days(first, today), 0)
	l.DaysSinceLastOrder = max(days(last, today), 0)
	l.IntervalDays = medianGap(ds)
	if len(ds) >= 2 {
		l.GapBeforeLast = days(ds[len(ds)-2], last)
		_, l.LapsedBeforeLast = cfg.Thresholds(medianGap(ds[:len(ds)-1]))
	}
	l.Stage = l.StageAt(today, cfg)
}

// StageAt is the stage on day today, the customer's orders unchanged: the
// store re-derives stages with it as days pass without orders.
func (l Loyalty) StageAt(today time.Time, cfg Config) Stage {
	if l.LastOrder == "" {
		return StageNone
	}
	last, _ := dayOf(l.LastOrder)
	first, _ := dayOf(l.FirstOrder)
	return StageOf(max(days(first, today), 0), max(days(last, today), 0), l.IntervalDays, l.GapBeforeLast, l.LapsedBeforeLast, cfg)
}

// StageOf applies the lifecycle rules (docs/value.md): lapsed and at risk
// by days since the last order against the interval's thresholds; won back
// when the gap before the last order was beyond the lapsed threshold of
// the orders before it (prevLapsed; 0 with one order); new while the first
// order is at most NewDays old; active otherwise.
func StageOf(tenure, sinceLast, interval, prevGap, prevLapsed int, cfg Config) Stage {
	atRisk, lapsed := cfg.Thresholds(interval)
	switch {
	case sinceLast > lapsed:
		return StageLapsed
	case sinceLast > atRisk:
		return StageAtRisk
	case prevLapsed > 0 && prevGap > prevLapsed:
		return StageWonBack
	case tenure <= cfg.NewDays:
		return StageNew
	}
	return StageActive
}
