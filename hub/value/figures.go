package value

import "github.com/crmhub/crmhub/hub"

// Stage is a lifecycle stage (docs/value.md says by which rules).
type Stage string

// Lifecycle stages; StageNone is a customer without a counted order.
const (
	StageNone    Stage = "none"
	StageNew     Stage = "new"
	StageActive  Stage = "active"
	StageAtRisk  Stage = "at_risk"
	StageLapsed  Stage = "lapsed"
	StageWonBack Stage = "won_back"
)

// Stages lists every stage, in lifecycle order.
var Stages = []Stage{StageNew, StageActive, StageWonBack, StageAtRisk, StageLapsed, StageNone}

// ValidStage reports whether s names a stage.
func ValidStage(s string) bool {
	for _, x := range Stages {
		if string(x) == s {
			return true
		}
	}
	return false
}

// Figures are one golden customer's value figures as of one day. Money
// lists hold one entry per currency, sorted by currency.
type Figures struct {
	AsOf     string   `json:"as_of"` // YYYY-MM-DD the figures were computed for
	Revenue  Revenue  `json:"revenue"`
	Margin   *Margin  `json:"margin,omitempty"`
	Payments Payments `json:"payments"`
	Service  Service  `json:"service"`
	Loyalty  Loyalty  `json:"loyalty"`
	Segment  Segment  `json:"segment"`
}

// Revenue is net order revenue (see docs/value.md).
type Revenue struct {
	Lifetime []hub.Money `json:"lifetime"`
	Last12m  []hub.Money `json:"last_12m"`
	// Base is lifetime and last-12-months revenue in the base currency:
	// the base currency's own revenue plus the others converted at a
	// configured rate; Unconverted lists currencies without a rate,
	// which Base leaves out.
	BaseLifetime hub.Money              `json:"base_lifetime"`
	Base12m      hub.Money              `json:"base_12m"`
	Unconverted  []string               `json:"unconverted,omitempty"`
	Orders       int                    `json:"orders"`  // counted orders (not cancelled, not fully returned)
	Returns      int                    `json:"returns"` // returned orders and return orders
	AOV          []hub.Money            `json:"average_order_value"`
	FirstOrder   string                 `json:"first_order,omitempty"` // YYYY-MM-DD
	LastOrder    string                 `json:"last_order,omitempty"`
	ByCategory   map[string][]hub.Money `json:"by_category,omitempty"`
	ByChannel    map[string][]hub.Money `json:"by_channel,omitempty"`
	ByRegion     map[string][]hub.Money `json:"by_region,omitempty"`
	// ByMonth is by order month (YYYY-MM); credit notes subtract in
	// their own month.
	ByMonth map[string][]hub.Money `json:"by_month,omitempty"`
}

// Margin is revenue minus cost over the order lines that carry a cost.
type Margin struct {
	Revenue []hub.Money `json:"revenue"` // of the lines with a cost
	Cost    []hub.Money `json:"cost"`
	Margin  []hub.Money `json:"margin"`
	// Percent is margin / revenue x 100 per currency, 1 decimal.
	Percent map[string]string `json:"percent,omitempty"`
	// Coverage is the share of counted lines that carry a cost, 0..1 as
	// a 2-decimal string: a margin over a few lines says little.
	Coverage string `json:"coverage"`
	// Margin of the costed lines by the line's category and by the
	// order's channel, region and month.
	ByCategory map[string][]hub.Money `json:"by_category,omitempty"`
	ByChannel  map[string][]hub.Money `json:"by_channel,omitempty"`
	ByRegion   map[string][]hub.Money `json:"by_region,omitempty"`
	ByMonth    map[string][]hub.Money `json:"by_month,omitempty"`
}

// Payments is payment behaviour from invoices, payments and credit notes.
type Payments struct {
	OpenBalance    []hub.Money `json:"open_balance"`
	OverdueBalance []hub.Money `json:"overdue_balance"`
	Invoices       int         `json:"invoices"`
	PaidInvoices   int         `json:"paid_invoices"`             // fully settled, with a known settling date
	AvgDaysToPay   *string     `json:"avg_days_to_pay,omitempty"` // 1 decimal
	WorstDaysToPay *int        `json:"worst_days_to_pay,omitempty"`
	ShareLate      *string     `json:"share_paid_late,omitempty"` // 0..1, 2 decimals
	// CreditLimitUse is open balance in the credit limit's currency /
	// credit limit, 0..n, 2 decimals; absent without a limit.
	CreditLimitUse *string `json:"credit_limit_use,omitempty"`
}

// Service is the service case figures.
type Service struct {
	Open            int     `json:"open"`                         // open or pending
	Closed          int     `json:"closed"`                       // resolved or closed
	Last90d         int     `json:"last_90d"`                     // opened in the last 90 days
	AvgHoursToClose *string `json:"avg_hours_to_close,omitempty"` // 1 decimal
}

// Loyalty is tenure, purchase rhythm and the lifecycle stage.
type Loyalty struct {
	TenureDays         int   `json:"tenure_days"`            // since the first order
	IntervalDays       int   `json:"purchase_interval_days"` // median gap between order days; 0 with fewer than two
	DaysSinceLastOrder int   `json:"days_since_last_order"`
	Stage              Stage `json:"stage"`
	// The stage's inputs, so it can be re-derived on a later day
	// (StageAt): first and last counted order day, the gap before the
	// last order and the lapsed threshold of the orders before it.
	FirstOrder       string `json:"first_order,omitempty"`
	LastOrder        string `json:"last_order,omitempty"`
	GapBeforeLast    int    `json:"gap_before_last_order_days,omitempty"`
	LapsedBeforeLast int    `json:"lapsed_days_before_last_order,omitempty"`
}

// Segment is the customer's place among all customers, set by the store
// from the distribution of every customer's figures (Distribution).
type Segment struct {
	Recency   int    `json:"r,omitempty"` // 1..5, 5 = most recent
	Frequency int    `json:"f,omitempty"`
	Monetary  int    `json:"m,omitempty"`
	RFM       string `json:"rfm,omitempty"` // "545"
	ABC       string `json:"abc,omitempty"`
	Name      string `json:"segment,omitempty"` // see Segments
}
