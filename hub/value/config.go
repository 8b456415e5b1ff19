package value

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Config holds the thresholds and the optional rate table. The zero value
// is not usable; start from DefaultConfig.
type Config struct {
	// NewDays: a customer whose first order is at most this old is new.
	NewDays int `yaml:"new_days" json:"new_days"`
	// DefaultIntervalDays is the purchase interval assumed for a customer
	// with fewer than two order dates.
	DefaultIntervalDays int `yaml:"default_interval_days" json:"default_interval_days"`
	// AtRiskFactor and LapsedFactor: days since the last order beyond
	// factor x purchase interval make a customer at risk, then lapsed.
	AtRiskFactor decimal.Decimal `yaml:"at_risk_factor" json:"at_risk_factor"`
	LapsedFactor decimal.Decimal `yaml:"lapsed_factor" json:"lapsed_factor"`
	// LapsedDays caps the lapsed threshold: beyond it a customer is lapsed
	// whatever its interval.
	LapsedDays int `yaml:"lapsed_days" json:"lapsed_days"`
	// ABCShareA and ABCShareB are the cumulative revenue shares of the A
	// and of the A+B customers (0.8 and 0.95 by default).
	ABCShareA decimal.Decimal `yaml:"abc_share_a" json:"abc_share_a"`
	ABCShareB decimal.Decimal `yaml:"abc_share_b" json:"abc_share_b"`
	// BaseCurrency is the currency of the one sortable revenue figure
	// (revenue_12m in lists, RFM monetary, ABC). Other currencies count
	// in it only through Rates: never converted silently.
	BaseCurrency string `yaml:"base_currency" json:"base_currency"`
	// Rates: units of BaseCurrency per unit of the keyed currency.
	Rates map[string]decimal.Decimal `yaml:"rates" json:"rates,omitempty"`
}

// DefaultConfig returns the documented defaults (docs/value.md).
func DefaultConfig() Config {
	return Config{
		NewDays:             90,
		DefaultIntervalDays: 90,
		AtRiskFactor:        decimal.NewFromInt(2),
		LapsedFactor:        decimal.NewFromInt(4),
		LapsedDays:          365,
		ABCShareA:           decimal.RequireFromString("0.8"),
		ABCShareB:           decimal.RequireFromString("0.95"),
		BaseCurrency:        "EUR",
	}
}

// Validate reports the first unusable setting, naming its key.
func (c Config) Validate() error {
	switch {
	case c.NewDays <= 0:
		return fmt.Errorf("value.new_days: want > 0, got %d", c.NewDays)
	case c.DefaultIntervalDays <= 0:
		return fmt.Errorf("value.default_interval_days: want > 0, got %d", c.DefaultIntervalDays)
	case !c.AtRiskFactor.IsPositive():
		return fmt.Errorf("value.at_risk_factor: want > 0, got %s", c.AtRiskFactor)
	case c.LapsedFactor.LessThanOrEqual(c.AtRiskFactor):
		return fmt.Errorf("value.lapsed_factor: want > at_risk_factor (%s), got %s", c.AtRiskFactor, c.LapsedFactor)
	case c.LapsedDays <= 0:
		return fmt.Errorf("value.lapsed_days: want > 0, got %d", c.LapsedDays)
	case !c.ABCShareA.IsPositive() || c.ABCShareA.GreaterThan(c.ABCShareB) || c.ABCShareB.GreaterThan(decimal.NewFromInt(1)):
		return fmt.Errorf("value.abc_share_a/abc_share_b: want 0 < a <= b <= 1, got %s and %s", c.ABCShareA, c.ABCShareB)
	case len(c.BaseCurrency) != 3:
		return fmt.Errorf("value.base_currency: not an ISO 4217 code: %q", c.BaseCurrency)
	}
	for cur, r := range c.Rates {
		if len(cur) != 3 || !r.IsPositive() {
			return fmt.Errorf("value.rates.%s: want a 3-letter currency and a positive rate, got %s", cur, r)
		}
	}
	return nil
}
