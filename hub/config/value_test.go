package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestValueConfig(t *testing.T) {
	off := false
	tests := []struct {
		name string
		v    Value
		err  string
	}{
		{name: "defaults"},
		{name: "rates and thresholds", v: Value{AtRiskFactor: "1.5", LapsedFactor: "3", Rates: map[string]string{"CHF": "1.05"}, Enabled: &off}},
		{name: "bad factor", v: Value{AtRiskFactor: "two"}, err: "value.at_risk_factor"},
		{name: "lapsed before at risk", v: Value{AtRiskFactor: "3", LapsedFactor: "2"}, err: "value.lapsed_factor"},
		{name: "bad rate", v: Value{Rates: map[string]string{"CHF": "-1"}}, err: "value.rates.CHF"},
		{name: "as of", v: Value{AsOf: "2025-06-30"}},
		{name: "bad as of", v: Value{AsOf: "30.06.2025"}, err: "value.as_of"},
		{name: "bad mode", v: Value{Mode: "lazy"}, err: "value.mode"},
		{name: "max lag", v: Value{Delay: Duration(2 * time.Second), MaxLag: Duration(time.Minute)}},
		{name: "max lag below the delay", v: Value{Delay: Duration(2 * time.Second), MaxLag: Duration(time.Second)}, err: "value.max_lag"},
		{name: "max lag below the default delay", v: Value{MaxLag: Duration(time.Second / 2)}, err: "value.max_lag"},
		{name: "bad share", v: Value{ABCShareA: "0.99", ABCShareB: "0.9"}, err: "value.abc_share_a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.Config()
			if err == nil {
				err = (&Config{File: "hub.yaml", Value: tt.v}).checkValueErr()
			}
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error %v, want one naming %q", err, tt.err)
			}
		})
	}
	if (Value{}).Lag() != 30*time.Second || (Value{MaxLag: Duration(time.Minute)}).Lag() != time.Minute {
		t.Error("max_lag defaults to 30s and follows the setting")
	}
	if (Value{}).On() != true || (Value{Enabled: &off}).On() {
		t.Error("enabled defaults to true and follows the setting")
	}
}

// checkValueErr runs checkValue alone, as check does.
func (c *Config) checkValueErr() error {
	var err error
	c.checkValue(func(_ int, key, format string, args ...any) {
		if err == nil {
			err = fmt.Errorf("%s: "+format, append([]any{key}, args...)...)
		}
	})
	return err
}
