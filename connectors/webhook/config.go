package webhook

import (
	"errors"
	"fmt"
	"strings"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Config is the typed form of the "webhook" parameters and their only
// declaration: Connector.Spec.Params is ParamsOf(Config{}). Tags holding a
// backquote are written as interpreted strings.
type Config struct {
	Listen     string       `json:"listen" param:"required" doc:"Address to listen on." example:":8090"`
	Path       string       `json:"path" default:"/webhook" doc:"URL path of the endpoint (POST)."`
	Secret     string       "json:\"secret\" param:\"required,secret\" doc:\"Shared secret of the `X-Crmhub-Signature: t=<unix>,v1=<hex HMAC-SHA256 of \\\"<t>.<body>\\\">` header.\""
	Tolerance  sdk.Duration `json:"tolerance" default:"5m" doc:"Largest accepted difference between the signature timestamp and now (replay protection)."`
	MaxBody    int          `json:"max_body" default:"1048576" doc:"Largest accepted body in bytes; larger requests get 413."`
	Entity     string       "json:\"entity\" default:\"events\" doc:\"Entity of the records, unless the body has a string field `entity`.\""
	IDField    string       "json:\"id_field\" default:\"id\" doc:\"Body field holding the record ID; it is also the event id unless the `X-Crmhub-Event-Id` header is set.\""
	AckTimeout sdk.Duration `json:"ack_timeout" default:"30s" doc:"How long a request waits for the host's acknowledgement before it gets 503 (the sender retries)."`
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
