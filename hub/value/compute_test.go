package value

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
)

var now = time.Date(2026, 6, 30, 15, 0, 0, 0, time.UTC)

func eur(a string) *hub.Money { return &hub.Money{Amount: a, Currency: "EUR"} }

func order(no, date, status string, total *hub.Money, lines ...hub.OrderLine) hub.Order {
	return hub.Order{OrderNumber: no, OrderDate: date, Status: status, Total: total, Lines: lines}
}

func money(ms ...hub.Money) []hub.Money {
	if ms == nil {
		return []hub.Money{}
	}
	return ms
}

func TestRevenue(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Rates = map[string]decimal.Decimal{"CHF": decimal.RequireFromString("1.05")}
	tests := []struct {
		name              string
		in                Input
		life, last12, aov []hub.Money
		base12            string
		unconverted       []string
		orders, returns   int
		first, last       string
	}{
		{name: "no orders", life: money(), last12: money(), aov: money(), base12: "0.00"},
		{
			name: "cancelled excluded, returned excluded, return order subtracts",
			in: Input{Orders: []hub.Order{
				order("1", "2026-06-01", "delivered", eur("100.00")),
				order("2", "2026-05-01", "cancelled", eur("50.00")),
				order("3", "2026-04-01", "returned", eur("70.00")),
				order("4", "2026-06-10", "delivered", eur("-20.00")),
				order("5", "2024-01-01", "delivered", eur("30.5")),
			}},
			life: money(hub.Money{Amount: "110.50", Currency: "EUR"}), last12: money(hub.Money{Amount: "80.00", Currency: "EUR"}),
			aov: money(hub.Money{Amount: "55.25", Currency: "EUR"}), base12: "80.00", orders: 2, returns: 2,
			first: "2024-01-01", last: "2026-06-01",
		},
		{
			name: "credit notes subtract unless their order is excluded already",
			in: Input{
				Orders: []hub.Order{order("1", "2026-06-01", "", eur("100")), order("2", "2026-06-02", "returned", eur("40"))},
				Payments: []hub.Payment{
					{DocumentNumber: "CN1", Type: "credit_note", Date: "2026-06-05", Amount: hub.Money{Amount: "10", Currency: "EUR"}},
					{DocumentNumber: "CN2", Type: "credit_note", Date: "2026-06-05", Amount: hub.Money{Amount: "40", Currency: "EUR"}, Reference: "2"},
					{DocumentNumber: "CN3", Type: "credit_note", Status: "cancelled", Amount: hub.Money{Amount: "5", Currency: "EUR"}},
				},
			},
			life: money(hub.Money{Amount: "90", Currency: "EUR"}), last12: money(hub.Money{Amount: "90", Currency: "EUR"}),
			aov: money(hub.Money{Amount: "90.00", Currency: "EUR"}), base12: "90.00", orders: 1, returns: 1,
			first: "2026-06-01", last: "2026-06-01",
		},
		{
			name: "currencies kept apart, converted only with a rate",
			in: Input{Orders: []hub.Order{
				order("1", "2026-06-01", "", eur("100")),
				order("2", "2026-06-01", "", &hub.Money{Amount: "100", Currency: "CHF"}),
				order("3", "2026-06-01", "", &hub.Money{Amount: "100", Currency: "USD"}),
			}},
			life:   money(hub.Money{Amount: "100", Currency: "CHF"}, hub.Money{Amount: "100", Currency: "EUR"}, hub.Money{Amount: "100", Currency: "USD"}),
			last12: money(hub.Money{Amount: "100", Currency: "CHF"}, hub.Money{Amount: "100", Currency: "EUR"}, hub.Money{Amount: "100", Currency: "USD"}),
			aov:    money(hub.Money{Amount: "100.00", Currency: "CHF"}, hub.Money{Amount: "100.00", Currency: "EUR"}, hub.Money{Amount: "100.00", Currency: "USD"}),
			base12: "205.00", unconverted: []string{"USD"}, orders: 3, first: "2026-06-01", last: "2026-06-01",
		},
		{
			name: "total from lines when the order has none",
			in: Input{Orders: []hub.Order{order("1", "2026-06-01", "", nil,
				hub.OrderLine{LineNo: 1, Quantity: "2", UnitPrice: eur("12.50")},
				hub.OrderLine{LineNo: 2, Quantity: "1", Amount: eur("5.00")},
				hub.OrderLine{LineNo: 3, Quantity: "1", Amount: &hub.Money{Amount: "x", Currency: "EUR"}})}},
			life: money(hub.Money{Amount: "30.00", Currency: "EUR"}), last12: money(hub.Money{Amount: "30.00", Currency: "EUR"}),
			aov: money(hub.Money{Amount: "30.00", Currency: "EUR"}), base12: "30.00", orders: 1, first: "2026-06-01", last: "2026-06-01",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compute(tt.in, now, cfg).Revenue
			got := []any{r.Lifetime, r.Last12m, r.AOV, r.Base12m.Amount, r.Unconverted, r.Orders, r.Returns, r.FirstOrder, r.LastOrder}
			want := []any{tt.life, tt.last12, tt.aov, tt.base12, tt.unconverted, tt.orders, tt.returns, tt.first, tt.last}
			for i := range got {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("field %d: got %#v, want %#v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestDimensionsAndMargin(t *testing.T) {
	o := order("1", "2026-06-01", "", eur("150.00"),
		hub.OrderLine{LineNo: 1, Quantity: "1", Amount: eur("100.00"), Category: "tools", Cost: eur("60.00")},
		hub.OrderLine{LineNo: 2, Quantity: "1", Amount: eur("50.00"), Category: "paint"})
	o.Channel, o.Region = "web", "north"
	ret := order("2", "2026-06-02", "", eur("-100.00"),
		hub.OrderLine{LineNo: 1, Quantity: "-1", Amount: eur("-100.00"), Category: "tools", Cost: eur("60.00")})
	ret.Channel = "web"
	f := Compute(Input{Orders: []hub.Order{o, ret, o}}, now, DefaultConfig())
	wantCat := map[string][]hub.Money{"tools": {{Amount: "100.00", Currency: "EUR"}}, "paint": {{Amount: "100.00", Currency: "EUR"}}}
	if !reflect.DeepEqual(f.Revenue.ByCategory, wantCat) {
		t.Errorf("by category %v, want %v", f.Revenue.ByCategory, wantCat)
	}
	if got := f.Revenue.ByChannel["web"][0].Amount; got != "200.00" {
		t.Errorf("web revenue %s, want 200.00", got)
	}
	if got := f.Revenue.ByRegion["north"][0].Amount; got != "300.00" {
		t.Errorf("north revenue %s, want 300.00", got)
	}
	m := f.Margin
	if m == nil {
		t.Fatal("no margin though lines carry a cost")
	}
	// Costed lines: +100/60 twice, -100/-60 once: revenue 100, cost 60.
	if m.Margin[0].Amount != "40.00" || m.Percent["EUR"] != "40.0" || m.Coverage != "0.60" {
		t.Errorf("margin %+v", m)
	}
	if got := m.ByCategory["tools"][0].Amount; got != "40.00" || m.ByChannel["web"][0].Amount != "40.00" || m.ByMonth["2026-06"][0].Amount != "40.00" {
		t.Errorf("margin by dimension %+v", m)
	}
	if Compute(Input{Orders: []hub.Order{order("1", "2026-06-01", "", eur("1"))}}, now, DefaultConfig()).Margin != nil {
		t.Error("margin without any cost")
	}
}

func TestPayments(t *testing.T) {
	inv := func(no, date, due, amt, status string) hub.Payment {
		return hub.Payment{DocumentNumber: no, Type: "invoice", Date: date, DueDate: due, Amount: hub.Money{Amount: amt, Currency: "EUR"}, Status: status}
	}
	pay := func(no, date, amt, ref string) hub.Payment {
		return hub.Payment{DocumentNumber: no, Type: "payment", Date: date, Amount: hub.Money{Amount: amt, Currency: "EUR"}, Reference: ref}
	}
	in := Input{
		Payments: []hub.Payment{
			inv("I1", "2026-05-01", "2026-05-31", "100.00", ""), pay("P1", "2026-05-20", "100.00", "I1"), // 19 days, on time
			inv("I2", "2026-04-01", "2026-04-30", "200.00", ""), pay("P2", "2026-05-10", "50.00", "I2"), // partial, then
			pay("P3", "2026-05-31", "150.00", "I2"),                                                    // settled 60 days after, late
			inv("I3", "2026-06-01", "2026-06-15", "80.00", ""), pay("P4", "2026-06-10", "30.00", "I3"), // 50 overdue
			inv("I4", "2026-06-20", "2026-07-20", "40.00", ""),     // open, not due
			inv("I5", "2026-01-01", "2026-01-31", "10.00", "paid"), // paid by status, date unknown
			inv("I6", "2026-01-01", "2026-01-31", "999.00", "cancelled"),
		},
		CreditLimit: eur("500"),
	}
	p := Compute(in, now, DefaultConfig()).Payments
	// Open: 100+200+80+40+10 - 100-50-150-30 = 100.
	if want := money(hub.Money{Amount: "100.00", Currency: "EUR"}); !reflect.DeepEqual(p.OpenBalance, want) {
		t.Errorf("open %v, want %v", p.OpenBalance, want)
	}
	if want := money(hub.Money{Amount: "50.00", Currency: "EUR"}); !reflect.DeepEqual(p.OverdueBalance, want) {
		t.Errorf("overdue %v, want %v", p.OverdueBalance, want)
	}
	if p.Invoices != 5 || p.PaidInvoices != 2 || *p.AvgDaysToPay != "39.5" || *p.WorstDaysToPay != 60 || *p.ShareLate != "0.50" || *p.CreditLimitUse != "0.20" {
		t.Errorf("payments %+v avg %v worst %v late %v use %v", p, *p.AvgDaysToPay, *p.WorstDaysToPay, *p.ShareLate, *p.CreditLimitUse)
	}
	// A payment naming no invoice lowers what is open; overdue follows.
	in.Payments = append(in.Payments, pay("P9", "2026-06-29", "90.00", ""))
	p = Compute(in, now, DefaultConfig()).Payments
	if p.OpenBalance[0].Amount != "10.00" || p.OverdueBalance[0].Amount != "10.00" {
		t.Errorf("unreferenced payment: open %v overdue %v, want 10.00 both", p.OpenBalance, p.OverdueBalance)
	}
}

func TestService(t *testing.T) {
	at := func(s string) *time.Time { t, _ := time.Parse(time.RFC3339, s); return &t }
	s := Compute(Input{Cases: []hub.ServiceCase{
		{CaseNumber: "1", Status: "open", OpenedAt: at("2026-06-01T10:00:00Z")},
		{CaseNumber: "2", Status: "pending", OpenedAt: at("2025-01-01T10:00:00Z")},
		{CaseNumber: "3", Status: "closed", OpenedAt: at("2026-05-01T10:00:00Z"), ClosedAt: at("2026-05-02T16:00:00Z")},
		{CaseNumber: "4", Status: "resolved", OpenedAt: at("2026-01-01T10:00:00Z"), ClosedAt: at("2026-01-01T16:00:00Z")},
		{CaseNumber: "5", Status: "closed"},
	}}, now, DefaultConfig()).Service
	if s.Open != 2 || s.Closed != 3 || s.Last90d != 2 || s.AvgHoursToClose == nil || *s.AvgHoursToClose != "18.0" {
		t.Errorf("service %+v", s)
	}
}

func TestStage(t *testing.T) {
	cfg := DefaultConfig()
	dates := func(ds ...string) []hub.Order {
		var out []hub.Order
		for i, d := range ds {
			out = append(out, order(string(rune('a'+i)), d, "", eur("10")))
		}
		return out
	}
	tests := []struct {
		name     string
		orders   []hub.Order
		stage    Stage
		interval int
	}{
		{"no orders", nil, StageNone, 0},
		{"only cancelled", []hub.Order{order("1", "2026-06-01", "cancelled", eur("1"))}, StageNone, 0},
		{"first order last month", dates("2026-06-01"), StageNew, 0},
		{"monthly buyer", dates("2026-03-01", "2026-04-01", "2026-05-01", "2026-06-01"), StageActive, 31},
		{"monthly buyer silent for 70 days", dates("2026-01-21", "2026-02-20", "2026-03-22", "2026-04-21"), StageAtRisk, 30},
		{"monthly buyer silent for 5 months", dates("2025-11-01", "2025-12-01", "2026-01-01", "2026-02-01"), StageLapsed, 31},
		{"one-off two years ago", dates("2024-06-01"), StageLapsed, 0},
		{"one-off 7 months ago", dates("2025-12-01"), StageAtRisk, 0},
		{"back after a year", dates("2025-01-01", "2025-02-01", "2025-03-01", "2026-06-20"), StageWonBack, 31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Compute(Input{Orders: tt.orders}, now, cfg).Loyalty
			if l.Stage != tt.stage || l.IntervalDays != tt.interval {
				t.Errorf("stage %s interval %d, want %s %d (%+v)", l.Stage, l.IntervalDays, tt.stage, tt.interval, l)
			}
			if got := l.StageAt(now, cfg); got != l.Stage {
				t.Errorf("StageAt %s, Compute %s", got, l.Stage)
			}
		})
	}
	// Days pass without orders: the stored stage moves on.
	l := Compute(Input{Orders: dates("2026-03-01", "2026-04-01", "2026-05-01", "2026-06-01")}, now, cfg).Loyalty
	if got := l.StageAt(now.AddDate(0, 3, 0), cfg); got != StageAtRisk {
		t.Errorf("three months later: %s, want at_risk", got)
	}
}

func TestSegments(t *testing.T) {
	var pts []Point
	for i := 1; i <= 10; i++ {
		pts = append(pts, Point{DaysSince: 10 * i, Orders: i, Monetary: decimal.NewFromInt(int64(i * i))})
	}
	b := Cut(pts, DefaultConfig())
	// Revenue 385 in all; A until 80% (308): 100+81+64+49 = 294 < 308, so
	// the customer with 36 crosses the line and is A; B until 95%.
	if !b.A.Equal(decimal.NewFromInt(36)) || !b.B.Equal(decimal.NewFromInt(16)) {
		t.Errorf("A from %s, B from %s; want 36, 16", b.A, b.B)
	}
	best := b.Score(pts[9])
	if best.ABC != "A" || best.Frequency != 5 || best.Monetary != 5 || best.Recency != 1 {
		t.Errorf("best %+v", best)
	}
	if s := b.Score(pts[0]); s.RFM != "511" || s.ABC != "C" || s.Name != "promising" {
		t.Errorf("first %+v", s)
	}
	if s := b.Score(Point{}); s.RFM != "" || s.ABC != "C" {
		t.Errorf("no orders %+v", s)
	}
	if s := (Breaks{}).Score(pts[0]); s != (Segment{}) {
		t.Errorf("without breaks %+v", s)
	}
}

// TestOrderIndependent: the figures do not depend on the order records
// arrive in, nor on a customer's records being split and joined again.
func TestOrderIndependent(t *testing.T) {
	in := Input{}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 60 {
		o := order(string(rune('A'+i%26))+string(rune('0'+i/26)), time.Date(2024, 1, 1+r.IntN(900), 0, 0, 0, 0, time.UTC).Format(time.DateOnly),
			[]string{"", "cancelled", "returned", "delivered"}[r.IntN(4)],
			&hub.Money{Amount: decimal.New(int64(r.IntN(100000)-5000), -2).String(), Currency: []string{"EUR", "CHF"}[r.IntN(2)]},
			hub.OrderLine{LineNo: 1, Quantity: "1", Amount: eur(decimal.New(int64(r.IntN(10000)), -1).String()), Category: "c", Cost: eur("1.5")})
		in.Orders = append(in.Orders, o)
		in.Payments = append(in.Payments, hub.Payment{DocumentNumber: "I" + o.OrderNumber, Type: "invoice", Date: o.OrderDate, DueDate: o.OrderDate, Amount: *o.Total},
			hub.Payment{DocumentNumber: "P" + o.OrderNumber, Type: "payment", Date: o.OrderDate, Amount: *o.Total, Reference: "I" + o.OrderNumber})
	}
	want, _ := json.Marshal(Compute(in, now, DefaultConfig()))
	for range 20 {
		sh := Input{Orders: append([]hub.Order(nil), in.Orders...), Payments: append([]hub.Payment(nil), in.Payments...)}
		r.Shuffle(len(sh.Orders), func(i, j int) { sh.Orders[i], sh.Orders[j] = sh.Orders[j], sh.Orders[i] })
		r.Shuffle(len(sh.Payments), func(i, j int) { sh.Payments[i], sh.Payments[j] = sh.Payments[j], sh.Payments[i] })
		got, _ := json.Marshal(Compute(sh, now, DefaultConfig()))
		if string(got) != string(want) {
			t.Fatalf("shuffled input changed the figures:\n%s\n%s", got, want)
		}
	}
}

// TestDayOfAsTimeParse checks the hand-read dates against time.Parse,
// which dayOf used for all of them: every day of four years (two leap,
// 1900 not), impossible days and months, and forms only time.Parse reads.
func TestDayOfAsTimeParse(t *testing.T) {
	var inputs []string
	for _, y := range []int{1900, 2000, 2023, 2024} {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				inputs = append(inputs, fmt.Sprintf("%04d-%02d-%02d", y, m, d))
			}
		}
	}
	inputs = append(inputs, "0000-02-29", "9999-12-31", "2024-02-29T10:00:00Z", "2024-1-05xx", "2024/01/05",
		"+024-01-05", "-024-01-05", "2024-0a-05", "20240105xx", "2024-01-5 ", "2024-13-01", "abcd-ef-gh")
	for _, s := range inputs {
		got, ok := dayOf(s)
		want, err := time.Parse(time.DateOnly, s[:10])
		if ok != (err == nil) || ok && !got.Equal(want) || ok && got.Location() != want.Location() {
			t.Errorf("dayOf(%q) = %v, %v; time.Parse: %v, %v", s, got, ok, want, err)
		}
	}
}

// TestCeilTimes checks the int64 product of Thresholds against the
// decimal one it stands for.
func TestCeilTimes(t *testing.T) {
	for _, f := range []string{"2", "4", "1.5", "1.25", "0.333", "2.0000001", "3.1415926535", "1E1", "1000000000000", "-1.5"} {
		d := decimal.RequireFromString(f)
		for _, n := range []int{0, 1, 2, 3, 7, 30, 45, 365, 999, 1 << 20, 1<<20 + 1} {
			want := int(d.Mul(decimal.NewFromInt(int64(n))).Ceil().IntPart())
			if got := ceilTimes(d, n); got != want {
				t.Errorf("ceilTimes(%s, %d) = %d, want %d", f, n, got, want)
			}
		}
	}
}
