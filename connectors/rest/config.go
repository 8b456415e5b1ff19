package rest

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/crmhub/crmhub/connectors/internal/apiclient"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// Config is the typed form of the "rest" parameters of a source. Its
// tags, with DestConfig's for the keys only a destination reads, declare
// the parameters (Connector in connector.go).
type Config struct {
	Common
	// StateDir keeps the fingerprints of emitted records between runs
	// (source.go, connectors/internal/statefile).
	StateDir string   "json:\"state_dir\" doc:\"Source: directory where each entity keeps the fingerprints (`updated_at` or content hash) of the records it emitted (on disk about 9 bytes plus the id per record), so a restart emits only records changed (or, with `deletes: missing`, gone) while crmhub was stopped; run by the hub it defaults to `<data_dir>/connectors/<instance name>`; without any, a restart emits every record again. Created when missing.\" example:\"/var/lib/crmhub/rest-crm\""
	Entities []Entity `json:"entities" param:"required" doc:"Endpoints to read or write; the keys of an item follow."`
}

// Common holds the parameters source and destination share: where the API
// is and how to talk to it.
type Common struct {
	BaseURL    string       `json:"base_url" param:"required" doc:"Base URL the entity paths are relative to." example:"https://crm.example.com"`
	Auth       Auth         "json:\"auth\" param:\"secret\" doc:\"Authentication: `api_key` sends `key` in `header`, `oauth2` uses client credentials against `token_url` and refreshes the token when it expires or a request gets 401.\""
	RateLimit  string       `json:"rate_limit" default:"10" doc:"Requests per second (a number, may be fractional)."`
	Timeout    sdk.Duration `json:"timeout" default:"30s" doc:"Timeout of one HTTP request."`
	MaxRetries int          `json:"max_retries" default:"5" doc:"Retries of a request that got 429, 5xx or a network error, with exponential backoff honouring Retry-After."`

	rps  float64
	base *url.URL
}

// Auth is the `auth` object, shared with the destination.
type Auth = apiclient.Auth

// Entity is one item of `entities` for a source.
type Entity struct {
	Name       string        `json:"name" param:"required" doc:"Entity name records carry."`
	Path       string        `json:"path" param:"required" doc:"Path of the endpoint, relative to base_url."`
	Records    string        `json:"records" doc:"Source: dot path of the record array in a list response; empty when the response is the array."`
	ID         string        `json:"id" doc:"Source: dot path of the record's id."`
	UpdatedAt  string        `json:"updated_at" doc:"Source: dot path of the change time."`
	SinceParam string        `json:"since_param" doc:"Source: query parameter of an incremental read (an RFC 3339 value)."`
	Overlap    *sdk.Duration `json:"overlap" doc:"Source: how far back an incremental read starts again, subtracted from the since value (default 1m)."`
	Pagination Pagination    `json:"pagination" doc:"Source: how list responses are paged."`
	// TotalPath is the dot path of the record total in a list response,
	// for reconciliation (count.go); empty: the source cannot count.
	TotalPath string "json:\"total_path\" doc:\"Source: dot path of the record total in a list response (e.g. `meta.total`), so reconciliation can compare counts.\""
	// Deletes "missing" turns an id a complete pass no longer returns
	// into a delete; off by default (see the README: an API that pages
	// inconsistently would delete records).
	Deletes string "json:\"deletes\" oneof:\"off|missing\" doc:\"Source: `missing` emits a delete for a record a complete pass (without `since_param`) no longer returns; `off` (default) never deletes. Only for APIs whose pages are consistent: a record skipped by shifting pages would be deleted.\""
}

// Pagination is an entity's `pagination` object.
type Pagination struct {
	Type           string `json:"type" oneof:"none|page|offset|cursor|link" doc:"none (default), page, offset, cursor or link (the Link header)."`
	Param          string `json:"param" doc:"Query parameter of the page, offset or cursor (default page, offset or cursor)."`
	SizeParam      string `json:"size_param" doc:"Query parameter of the page size."`
	Size           int    `json:"size" doc:"Records per page."`
	CursorPath     string `json:"cursor_path" doc:"Dot path of the next cursor in a response (cursor)."`
	TotalPagesPath string `json:"total_pages_path" doc:"Dot path of the page count in a response (page)."`
}

func parseConfig(cfg sdk.Config) (Config, error) {
	var c Config
	if err := Connector.Spec.DecodeFor(sdk.KindSource, cfg, &c); err != nil {
		return c, err
	}
	errs := c.checkCommon()
	if len(c.Entities) == 0 {
		errs = append(errs, errors.New("rest: entities: at least one entity is required"))
	}
	for i := range c.Entities {
		e := &c.Entities[i]
		where := fmt.Sprintf("rest: entities[%d] (%s)", i, e.Name)
		if e.Name == "" || e.Path == "" || e.ID == "" {
			errs = append(errs, fmt.Errorf("%s: name, path and id are required", where))
		}
		switch e.Deletes {
		case "", "off":
			e.Deletes = "off"
		case "missing":
			// With since_param a pass returns only what changed: a
			// record missing from it is not gone.
			if e.SinceParam != "" {
				errs = append(errs, fmt.Errorf("%s: deletes: missing needs full passes; it cannot be used with since_param", where))
			}
		}
		if e.Overlap == nil {
			d := sdk.Duration(time.Minute)
			e.Overlap = &d
		}
		p := &e.Pagination
		switch p.Type {
		case "", "none":
			p.Type = "none"
		case "page":
			if p.Param == "" {
				p.Param = "page"
			}
		case "offset":
			if p.Param == "" {
				p.Param = "offset"
			}
		case "cursor":
			if p.Param == "" {
				p.Param = "cursor"
			}
			if p.CursorPath == "" {
				errs = append(errs, fmt.Errorf("%s: cursor pagination needs cursor_path", where))
			}
		case "link":
		default:
			errs = append(errs, fmt.Errorf("%s: pagination type %q: want page, offset, cursor, link or none", where, p.Type))
		}
	}
	return c, errors.Join(errs...)
}

// newClient builds the HTTP client the source and destination share.
func (c Common) newClient(backoff time.Duration, log *slog.Logger) *apiclient.Client {
	return apiclient.New(apiclient.Options{Auth: c.Auth, RPS: c.rps, Timeout: time.Duration(c.Timeout), MaxRetries: c.MaxRetries, Backoff: backoff, Log: log})
}

// checkCommon validates what source and destination share: base_url,
// rate_limit, max_retries and auth.
func (c *Common) checkCommon() []error {
	var errs []error
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("rest: base_url %q: want an http(s) URL", c.BaseURL))
	}
	c.base = u
	if c.rps, err = strconv.ParseFloat(c.RateLimit, 64); err != nil || c.rps <= 0 {
		errs = append(errs, fmt.Errorf("rest: rate_limit %q: want a positive number of requests per second", c.RateLimit))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, errors.New("rest: max_retries must not be negative"))
	}
	return append(errs, c.Auth.Check("rest")...)
}
