package value

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/crmhub/crmhub/hub"
)

// AppendJSON appends f as encoding/json encodes it, byte for byte
// (TestAppendJSONAsMarshal), without reflection: the store encodes the
// figures of every customer it recomputes, and json.Marshal was a tenth
// of a recompute.
func (f *Figures) AppendJSON(b []byte) []byte {
	b = append(b, `{"as_of":`...)
	b = appendString(b, f.AsOf)
	b = append(b, `,"revenue":`...)
	b = f.Revenue.appendJSON(b)
	if f.Margin != nil {
		b = append(b, `,"margin":`...)
		b = f.Margin.appendJSON(b)
	}
	b = append(b, `,"payments":`...)
	b = f.Payments.appendJSON(b)
	s := &f.Service
	b = append(b, `,"service":{"open":`...)
	b = strconv.AppendInt(b, int64(s.Open), 10)
	b = append(b, `,"closed":`...)
	b = strconv.AppendInt(b, int64(s.Closed), 10)
	b = append(b, `,"last_90d":`...)
	b = strconv.AppendInt(b, int64(s.Last90d), 10)
	b = appendOptString(b, `,"avg_hours_to_close":`, s.AvgHoursToClose)
	b = append(b, `},"loyalty":`...)
	b = f.Loyalty.appendJSON(b)
	b = append(b, `,"segment":`...)
	b = f.Segment.appendJSON(b)
	return append(b, '}')
}

func (r *Revenue) appendJSON(b []byte) []byte {
	b = append(b, `{"lifetime":`...)
	b = appendMoneys(b, r.Lifetime)
	b = append(b, `,"last_12m":`...)
	b = appendMoneys(b, r.Last12m)
	b = append(b, `,"base_lifetime":`...)
	b = appendMoney(b, r.BaseLifetime)
	b = append(b, `,"base_12m":`...)
	b = appendMoney(b, r.Base12m)
	if len(r.Unconverted) > 0 {
		b = append(b, `,"unconverted":[`...)
		for i, s := range r.Unconverted {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	b = append(b, `,"orders":`...)
	b = strconv.AppendInt(b, int64(r.Orders), 10)
	b = append(b, `,"returns":`...)
	b = strconv.AppendInt(b, int64(r.Returns), 10)
	b = append(b, `,"average_order_value":`...)
	b = appendMoneys(b, r.AOV)
	b = appendNonEmpty(b, `,"first_order":`, r.FirstOrder)
	b = appendNonEmpty(b, `,"last_order":`, r.LastOrder)
	b = appendDim(b, `,"by_category":`, r.ByCategory)
	b = appendDim(b, `,"by_channel":`, r.ByChannel)
	b = appendDim(b, `,"by_region":`, r.ByRegion)
	b = appendDim(b, `,"by_month":`, r.ByMonth)
	return append(b, '}')
}

func (m *Margin) appendJSON(b []byte) []byte {
	b = append(b, `{"revenue":`...)
	b = appendMoneys(b, m.Revenue)
	b = append(b, `,"cost":`...)
	b = appendMoneys(b, m.Cost)
	b = append(b, `,"margin":`...)
	b = appendMoneys(b, m.Margin)
	if len(m.Percent) > 0 {
		b = append(b, `,"percent":{`...)
		for i, k := range sortedKeys(m.Percent) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, m.Percent[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"coverage":`...)
	b = appendString(b, m.Coverage)
	b = appendDim(b, `,"by_category":`, m.ByCategory)
	b = appendDim(b, `,"by_channel":`, m.ByChannel)
	b = appendDim(b, `,"by_region":`, m.ByRegion)
	b = appendDim(b, `,"by_month":`, m.ByMonth)
	return append(b, '}')
}

func (p *Payments) appendJSON(b []byte) []byte {
	b = append(b, `{"open_balance":`...)
	b = appendMoneys(b, p.OpenBalance)
	b = append(b, `,"overdue_balance":`...)
	b = appendMoneys(b, p.OverdueBalance)
	b = append(b, `,"invoices":`...)
	b = strconv.AppendInt(b, int64(p.Invoices), 10)
	b = append(b, `,"paid_invoices":`...)
	b = strconv.AppendInt(b, int64(p.PaidInvoices), 10)
	b = appendOptString(b, `,"avg_days_to_pay":`, p.AvgDaysToPay)
	if p.WorstDaysToPay != nil {
		b = append(b, `,"worst_days_to_pay":`...)
		b = strconv.AppendInt(b, int64(*p.WorstDaysToPay), 10)
	}
	b = appendOptString(b, `,"share_paid_late":`, p.ShareLate)
	b = appendOptString(b, `,"credit_limit_use":`, p.CreditLimitUse)
	return append(b, '}')
}

func (l *Loyalty) appendJSON(b []byte) []byte {
	b = append(b, `{"tenure_days":`...)
	b = strconv.AppendInt(b, int64(l.TenureDays), 10)
	b = append(b, `,"purchase_interval_days":`...)
	b = strconv.AppendInt(b, int64(l.IntervalDays), 10)
	b = append(b, `,"days_since_last_order":`...)
	b = strconv.AppendInt(b, int64(l.DaysSinceLastOrder), 10)
	b = append(b, `,"stage":`...)
	b = appendString(b, string(l.Stage))
	b = appendNonEmpty(b, `,"first_order":`, l.FirstOrder)
	b = appendNonEmpty(b, `,"last_order":`, l.LastOrder)
	b = appendNonZero(b, `,"gap_before_last_order_days":`, l.GapBeforeLast)
	b = appendNonZero(b, `,"lapsed_days_before_last_order":`, l.LapsedBeforeLast)
	return append(b, '}')
}

func (s *Segment) appendJSON(b []byte) []byte {
	n := len(b)
	b = appendNonZero(b, `,"r":`, s.Recency)
	b = appendNonZero(b, `,"f":`, s.Frequency)
	b = appendNonZero(b, `,"m":`, s.Monetary)
	b = appendNonEmpty(b, `,"rfm":`, s.RFM)
	b = appendNonEmpty(b, `,"abc":`, s.ABC)
	b = appendNonEmpty(b, `,"segment":`, s.Name)
	if len(b) == n {
		return append(b, "{}"...)
	}
	b[n] = '{' // the first field's comma opens the object
	return append(b, '}')
}

func appendMoney(b []byte, m hub.Money) []byte {
	b = append(b, `{"amount":`...)
	b = appendString(b, m.Amount)
	b = append(b, `,"currency":`...)
	b = appendString(b, m.Currency)
	return append(b, '}')
}

// appendMoneys encodes a list; nil is null, as encoding/json has it.
func appendMoneys(b []byte, ms []hub.Money) []byte {
	if ms == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMoney(b, m)
	}
	return append(b, ']')
}

// appendDim encodes a map of lists by key, omitted when empty.
func appendDim(b []byte, field string, m map[string][]hub.Money) []byte {
	if len(m) == 0 {
		return b
	}
	b = append(b, field...)
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendMoneys(b, m[k])
	}
	return append(b, '}')
}

func appendNonEmpty(b []byte, field, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, field...), s)
}

func appendNonZero(b []byte, field string, n int) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(append(b, field...), int64(n), 10)
}

func appendOptString(b []byte, field string, s *string) []byte {
	if s == nil {
		return b
	}
	return appendString(append(b, field...), *s)
}

// appendString encodes s; text other than printable ASCII without the
// characters encoding/json escapes goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Block is the part of the figures a golden state's value block shows
// beside the stage and class columns; the store keeps it in a column of
// its own (AppendBlockJSON), so a state is read without decoding the
// figures.
type Block struct {
	AsOf       string      `json:"as_of"`
	Revenue12m []hub.Money `json:"revenue_12m,omitempty"` // the last 12 months by currency
	Open       []hub.Money `json:"open,omitempty"`
	Overdue    []hub.Money `json:"overdue,omitempty"`
}

// Block returns the figures' block.
func (f *Figures) Block() Block {
	return Block{AsOf: f.AsOf, Revenue12m: f.Revenue.Last12m, Open: f.Payments.OpenBalance, Overdue: f.Payments.OverdueBalance}
}

// AppendBlockJSON appends what json.Marshal(f.Block()) writes, without
// its reflection (once per customer recomputed).
func (f *Figures) AppendBlockJSON(b []byte) []byte {
	b = append(b, `{"as_of":`...)
	b = appendString(b, f.AsOf)
	for _, part := range []struct {
		field string
		ms    []hub.Money
	}{{`,"revenue_12m":`, f.Revenue.Last12m}, {`,"open":`, f.Payments.OpenBalance}, {`,"overdue":`, f.Payments.OverdueBalance}} {
		if len(part.ms) > 0 {
			b = appendMoneys(append(b, part.field...), part.ms)
		}
	}
	return append(b, '}')
}
