package config

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub/value"
)

// Value configures the customer value figures (docs/value.md). Empty
// fields keep value.DefaultConfig's defaults.
type Value struct {
	// Enabled turns the figures on apply on or off (default true).
	Enabled *bool `yaml:"enabled"`
	// Mode: deferred (default) marks the customers a batch touched and
	// recomputes each once every Delay, however many batches touched it;
	// sync recomputes them in every batch's transaction (figures never
	// lag, apply is several times slower: docs/benchmarks.md).
	Mode string `yaml:"mode"`
	// Delay is how often deferred figures are recomputed (default 1s),
	// and how long a customer must stay untouched to be recomputed.
	Delay Duration `yaml:"delay"`
	// MaxLag bounds how stale deferred figures get while a sync keeps
	// touching a customer (default 30s): it is recomputed once its
	// oldest pending change is that old, even though it still changes.
	// It also bounds how long the golden change stream holds a
	// customer's upsert for its figures (docs/value.md). The first load
	// into a new store is the exception: its figures are computed in one
	// sweep once it pauses, at the latest ten times MaxLag after its
	// first batch (docs/value.md, The first fill).
	MaxLag Duration `yaml:"max_lag"`
	// AsOf (YYYY-MM-DD) computes the figures as of that day instead of
	// today: for demos on generated data and reproducible reports.
	AsOf string `yaml:"as_of"`
	// RefreshInterval is how often the applier re-derives stages and
	// RFM/ABC segments over all customers and recomputes figures of an
	// earlier day (default 1h; the figures age by the day).
	RefreshInterval Duration `yaml:"refresh_interval"`
	// RefreshMax caps the customers one refresh recomputes (default
	// 50000), so one run stays bounded; the rest wait for the next.
	RefreshMax int `yaml:"refresh_max"`

	NewDays             int               `yaml:"new_days"`
	DefaultIntervalDays int               `yaml:"default_interval_days"`
	AtRiskFactor        string            `yaml:"at_risk_factor"`
	LapsedFactor        string            `yaml:"lapsed_factor"`
	LapsedDays          int               `yaml:"lapsed_days"`
	ABCShareA           string            `yaml:"abc_share_a"`
	ABCShareB           string            `yaml:"abc_share_b"`
	BaseCurrency        string            `yaml:"base_currency"`
	Rates               map[string]string `yaml:"rates"` // units of base_currency per unit of the keyed currency
}

// On reports whether the figures are kept (the default).
func (v Value) On() bool { return v.Enabled == nil || *v.Enabled }

// Clock is the figures' clock: now, or noon UTC of AsOf.
func (v Value) Clock() func() time.Time {
	if t, err := time.Parse(time.DateOnly, v.AsOf); err == nil {
		t = t.Add(12 * time.Hour)
		return func() time.Time { return t }
	}
	return time.Now
}

// Deferred reports the deferred mode (the default).
func (v Value) Deferred() bool { return v.Mode != "sync" }

// DrainEvery is Delay or its default.
func (v Value) DrainEvery() time.Duration {
	if v.Delay <= 0 {
		return time.Second
	}
	return time.Duration(v.Delay)
}

// Lag is MaxLag or its default.
func (v Value) Lag() time.Duration {
	if v.MaxLag <= 0 {
		return 30 * time.Second
	}
	return time.Duration(v.MaxLag)
}

// Interval is RefreshInterval or its default.
func (v Value) Interval() time.Duration {
	if v.RefreshInterval <= 0 {
		return time.Hour
	}
	return time.Duration(v.RefreshInterval)
}

// Max is RefreshMax or its default.
func (v Value) Max() int {
	if v.RefreshMax <= 0 {
		return 50000
	}
	return v.RefreshMax
}

// Config is the value.Config these settings make; its error names the key.
func (v Value) Config() (value.Config, error) {
	c := value.DefaultConfig()
	setInt := func(dst *int, n int) {
		if n != 0 {
			*dst = n
		}
	}
	setInt(&c.NewDays, v.NewDays)
	setInt(&c.DefaultIntervalDays, v.DefaultIntervalDays)
	setInt(&c.LapsedDays, v.LapsedDays)
	for key, p := range map[string]struct {
		text string
		dst  *decimal.Decimal
	}{"at_risk_factor": {v.AtRiskFactor, &c.AtRiskFactor}, "lapsed_factor": {v.LapsedFactor, &c.LapsedFactor},
		"abc_share_a": {v.ABCShareA, &c.ABCShareA}, "abc_share_b": {v.ABCShareB, &c.ABCShareB}} {
		if p.text == "" {
			continue
		}
		d, err := decimal.NewFromString(p.text)
		if err != nil {
			return c, fmt.Errorf("value.%s: not a decimal: %q", key, p.text)
		}
		*p.dst = d
	}
	if v.BaseCurrency != "" {
		c.BaseCurrency = v.BaseCurrency
	}
	if len(v.Rates) > 0 {
		c.Rates = map[string]decimal.Decimal{}
		for cur, text := range v.Rates {
			d, err := decimal.NewFromString(text)
			if err != nil {
				return c, fmt.Errorf("value.rates.%s: not a decimal: %q", cur, text)
			}
			c.Rates[cur] = d
		}
	}
	return c, c.Validate()
}

func (c *Config) checkValue(bad func(line int, key, format string, args ...any)) {
	if _, err := c.Value.Config(); err != nil {
		bad(0, "value", "%v", err)
	}
	if a := c.Value.AsOf; a != "" {
		if _, err := time.Parse(time.DateOnly, a); err != nil {
			bad(0, "value.as_of", "%q: want a date YYYY-MM-DD", a)
		}
	}
	if m := c.Value.Mode; m != "" && m != "sync" && m != "deferred" {
		bad(0, "value.mode", "want sync or deferred, got %q", m)
	}
	if c.Value.MaxLag != 0 && time.Duration(c.Value.MaxLag) < c.Value.DrainEvery() {
		bad(0, "value.max_lag", "%s: want at least value.delay (%s)", time.Duration(c.Value.MaxLag), c.Value.DrainEvery())
	}
	if c.Value.RefreshMax < 0 {
		bad(0, "value.refresh_max", "%d: want a number of customers (0 for the default 50000)", c.Value.RefreshMax)
	}
}
