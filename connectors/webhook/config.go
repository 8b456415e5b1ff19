package webhook

import (
	"errors"
	"fmt"
	"strings"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Config is the typed form of the "webhook" parameters.
type Config struct {
	Listen     string       `json:"listen"`
	Path       string       `json:"path"`
	Secret     string       `json:"secret"`
	Tolerance  sdk.Duration `json:"tolerance"`
	MaxBody    int          `json:"max_body"`
	Entity     string       `json:"entity"`
	IDField    string       `json:"id_field"`
	AckTimeout sdk.Duration `json:"ack_timeout"`
}

func parseConfig(cfg sdk.Config) (Config, error) {
	var c Config
	if err := Connector.Spec.Decode(cfg, &c); err != nil {
		return c, err
	}
	var errs []error
	if len(c.Secret) < 16 {
		errs = append(errs, errors.New("webhook: secret must be at least 16 characters"))
	}
	if !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, fmt.Errorf("webhook: path %q must start with /", c.Path))
	}
	if c.MaxBody <= 0 {
		errs = append(errs, errors.New("webhook: max_body must be positive"))
	}
	if c.Tolerance <= 0 || c.AckTimeout <= 0 {
		errs = append(errs, errors.New("webhook: tolerance and ack_timeout must be positive"))
	}
	return c, errors.Join(errs...)
}
