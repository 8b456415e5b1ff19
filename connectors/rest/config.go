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

// Config is the typed form of the "rest" parameters.
type Config struct {
	Common
	Entities []Entity `json:"entities"`
}

// Common holds the parameters source and destination share: where the API
// is and how to talk to it.
type Common struct {
	BaseURL    string       `json:"base_url"`
	Auth       Auth         `json:"auth"`
	RateLimit  string       `json:"rate_limit"`
	Timeout    sdk.Duration `json:"timeout"`
	MaxRetries int          `json:"max_retries"`

	rps  float64
	base *url.URL
}

// Auth is the `auth` object, shared with the destination.
type Auth = apiclient.Auth

// Entity is one item of `entities`.
type Entity struct {
	Name       string        `json:"name"`
	Path       string        `json:"path"`
	Records    string        `json:"records"`
	ID         string        `json:"id"`
	UpdatedAt  string        `json:"updated_at"`
	SinceParam string        `json:"since_param"`
	Overlap    *sdk.Duration `json:"overlap"`
	Pagination Pagination    `json:"pagination"`
	// TotalPath is the dot path of the record total in a list response,
	// for reconciliation (count.go); empty: the source cannot count.
	TotalPath string `json:"total_path"`
}

// Pagination is an entity's `pagination` object.
type Pagination struct {
	Type           string `json:"type"`
	Param          string `json:"param"`
	SizeParam      string `json:"size_param"`
	Size           int    `json:"size"`
	CursorPath     string `json:"cursor_path"`
	TotalPagesPath string `json:"total_pages_path"`
}

func parseConfig(cfg sdk.Config) (Config, error) {
	var c Config
	if err := Connector.Spec.Decode(cfg, &c); err != nil {
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

// entityFields declares the keys of an `entities` item, source and
// destination keys together, so a misspelt key is refused at config load.
var entityFields = []sdk.Param{
	{Name: "name", Type: sdk.TypeString, Required: true, Description: "Entity name records carry."},
	{Name: "path", Type: sdk.TypeString, Required: true, Description: "Path of the endpoint, relative to base_url."},
	{Name: "records", Type: sdk.TypeString, Description: "Dot path of the record array in a list response."},
	{Name: "id", Type: sdk.TypeString, Description: "Dot path of the record id."},
	{Name: "updated_at", Type: sdk.TypeString, Description: "Dot path of the change time (source)."},
	{Name: "since_param", Type: sdk.TypeString, Description: "Query parameter of an incremental read (source)."},
	{Name: "overlap", Type: sdk.TypeDuration, Description: "How far back an incremental read starts again (default 1m)."},
	{Name: "total_path", Type: sdk.TypeString, Description: "Dot path of the record total, for reconciliation."},
	{Name: "pagination", Type: sdk.TypeObject, Description: "How list responses are paged.", Fields: []sdk.Param{
		{Name: "type", Type: sdk.TypeString, OneOf: []string{"none", "page", "offset", "cursor", "link"}, Description: "none (default), page, offset, cursor or link (the Link header)."},
		{Name: "param", Type: sdk.TypeString, Description: "Query parameter of the page, offset or cursor."},
		{Name: "size_param", Type: sdk.TypeString, Description: "Query parameter of the page size."},
		{Name: "size", Type: sdk.TypeInt, Description: "Records per page."},
		{Name: "cursor_path", Type: sdk.TypeString, Description: "Dot path of the next cursor in a response (cursor)."},
		{Name: "total_pages_path", Type: sdk.TypeString, Description: "Dot path of the page count in a response (page)."},
	}},
	{Name: "columns", Type: sdk.TypeList, Description: "Destination allow-list of payload fields."},
	{Name: "update_method", Type: sdk.TypeString, Description: "Destination: PATCH (default) or PUT."},
}

// authFields declares the keys of `auth` (apiclient.Auth).
var authFields = []sdk.Param{
	{Name: "type", Type: sdk.TypeString, OneOf: []string{"none", "api_key", "basic", "bearer", "oauth2"}, Description: "Authentication kind."},
	{Name: "header", Type: sdk.TypeString, Description: "Header carrying the API key (api_key)."},
	{Name: "key", Type: sdk.TypeString, Secret: true, Description: "The API key (api_key)."},
	{Name: "username", Type: sdk.TypeString, Description: "User (basic)."},
	{Name: "password", Type: sdk.TypeString, Secret: true, Description: "Password (basic)."},
	{Name: "token", Type: sdk.TypeString, Secret: true, Description: "Bearer token (bearer)."},
	{Name: "token_url", Type: sdk.TypeString, Description: "Token endpoint (oauth2 client credentials)."},
	{Name: "client_id", Type: sdk.TypeString, Description: "Client id (oauth2)."},
	{Name: "client_secret", Type: sdk.TypeString, Secret: true, Description: "Client secret (oauth2)."},
	{Name: "scopes", Type: sdk.TypeList, Description: "Scopes requested (oauth2)."},
}
