package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub/config"
)

func TestAuthDefaultsOn(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		on   bool
		err  string
	}{
		{"data_dir: d\n", true, ""},
		{"auth: {enabled: true}\n", true, ""},
		{"auth:\n  enabled: false\n", false, ""},
		{"auth:\n  enable: false\n", false, `auth.enable: unknown key (did you mean enabled?)`},
	} {
		cfg, err := config.Parse("crmhub.yaml", []byte(tc.yaml), os.LookupEnv)
		if tc.err != "" {
			if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want %s", tc.yaml, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if cfg.Auth.On() != tc.on {
			t.Errorf("%q: auth on = %v, want %v", tc.yaml, cfg.Auth.On(), tc.on)
		}
	}
}
