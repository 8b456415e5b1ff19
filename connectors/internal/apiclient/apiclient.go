// Package apiclient is the HTTP machinery the rest source and the rest
// destination share: authentication (API key, basic, bearer, OAuth2 client
// credentials with refresh), a requests-per-second limit, retries with
// exponential backoff honouring Retry-After on 429, 5xx and network errors,
// and URL redaction so errors and logs never carry secrets.
package apiclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"

	"github.com/crmhub/crmhub/internal/retry"
)

// ErrHTTP is wrapped by errors for responses that retrying cannot fix (a
// 4xx other than 429, or retries exhausted).
var ErrHTTP = errors.New("http request failed")

// Auth is the `auth` object of the rest connector; its tags declare the
// object's keys (sdk.ParamsOf).
type Auth struct {
	Type         string   `json:"type" oneof:"none|api_key|basic|bearer|oauth2" doc:"Authentication kind (default none)."`
	Header       string   "json:\"header\" doc:\"Header carrying the API key (api_key; default `X-API-Key`).\""
	Key          string   `json:"key" param:"secret" required_if:"type=api_key" doc:"The API key (api_key)."`
	Username     string   `json:"username" required_if:"type=basic" doc:"User (basic)."`
	Password     string   `json:"password" param:"secret" doc:"Password (basic)."`
	Token        string   `json:"token" param:"secret" required_if:"type=bearer" doc:"Bearer token (bearer)."`
	TokenURL     string   `json:"token_url" required_if:"type=oauth2" doc:"Token endpoint (oauth2 client credentials)."`
	ClientID     string   `json:"client_id" required_if:"type=oauth2" doc:"Client id (oauth2)."`
	ClientSecret string   `json:"client_secret" param:"secret" doc:"Client secret (oauth2)."`
	Scopes       []string `json:"scopes" doc:"Scopes requested (oauth2)."`
}

// Check fills defaults (the api_key header) and reports what is missing for
// the chosen type; prefix names the connector in the errors.
func (a *Auth) Check(prefix string) []error {
	var errs []error
	switch a.Type {
	case "", "none":
	case "api_key":
		if a.Header == "" {
			a.Header = "X-API-Key"
		}
		if a.Key == "" {
			errs = append(errs, fmt.Errorf("%s: auth api_key needs key", prefix))
		}
	case "basic":
		if a.Username == "" {
			errs = append(errs, fmt.Errorf("%s: auth basic needs username", prefix))
		}
	case "bearer":
		if a.Token == "" {
			errs = append(errs, fmt.Errorf("%s: auth bearer needs token", prefix))
		}
	case "oauth2":
		if a.TokenURL == "" || a.ClientID == "" {
			errs = append(errs, fmt.Errorf("%s: auth oauth2 needs token_url and client_id", prefix))
		}
	default:
		errs = append(errs, fmt.Errorf("%s: auth type %q: want none, api_key, basic, bearer or oauth2", prefix, a.Type))
	}
	return errs
}

// Options configure a Client.
type Options struct {
	Auth       Auth
	RPS        float64       // requests per second, > 0
	Timeout    time.Duration // of one request
	MaxRetries int
	// Backoff is the first retry delay (doubled per attempt, capped at
	// 30s, with full jitter: internal/retry); zero means 500ms.
	Backoff time.Duration
	Log     *slog.Logger
}

// Client sends requests with auth, rate limit and retries. It is safe for
// concurrent use.
type Client struct {
	opt     Options
	http    *http.Client
	limiter *rate.Limiter
	log     *slog.Logger

	tokMu sync.Mutex
	cc    *clientcredentials.Config
	ts    oauth2.TokenSource
}

// New builds a client; it does not touch the network.
func New(opt Options) *Client {
	if opt.Backoff <= 0 {
		opt.Backoff = 500 * time.Millisecond
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	c := &Client{opt: opt, http: &http.Client{Timeout: opt.Timeout}, log: opt.Log}
	c.limiter = rate.NewLimiter(rate.Limit(opt.RPS), max(1, int(opt.RPS)))
	if opt.Auth.Type == "oauth2" {
		a := opt.Auth
		c.cc = &clientcredentials.Config{ClientID: a.ClientID, ClientSecret: a.ClientSecret, TokenURL: a.TokenURL, Scopes: a.Scopes}
		c.ts = c.newTokenSource()
	}
	return c
}

func (c *Client) newTokenSource() oauth2.TokenSource {
	return c.cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, c.http))
}

// Response is a successful (2xx) response, body read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends method to u with body (nil for none; sent as JSON) and returns
// the 2xx response. 429, 5xx and network errors are retried up to
// MaxRetries with backoff, honouring Retry-After; a 401 with OAuth2 gets a
// fresh token once. Any other status is an error wrapping ErrHTTP that
// names the method, the redacted URL and the status. The response body is
// left out: APIs echo the refused values there, and errors end up in logs.
//
// hdr, when not nil, adds request headers (an Idempotency-Key).
func (c *Client) Do(ctx context.Context, method, u string, body []byte, hdr http.Header) (*Response, error) {
	var lastErr error
	refreshed := false
	for attempt := 0; attempt <= c.opt.MaxRetries; attempt++ {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, err
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, Redact(u), err)
		}
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if err := c.authorize(req); err != nil {
			return nil, err
		}
		resp, err := c.http.Do(req)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			lastErr = fmt.Errorf("%s %s: %w", method, Redact(u), StripURLError(err))
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				lastErr = fmt.Errorf("%s %s: read body: %w", method, Redact(u), err)
				break
			}
			return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
		case resp.StatusCode == http.StatusUnauthorized && c.cc != nil && !refreshed:
			// The token may have been revoked or expired early: get a new
			// one and try again once.
			discard(resp)
			c.tokMu.Lock()
			c.ts = c.newTokenSource()
			c.tokMu.Unlock()
			refreshed = true
			attempt--
			continue
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			wait = RetryAfter(resp.Header.Get("Retry-After"))
			discard(resp)
			lastErr = fmt.Errorf("%w: %s %s: %s", ErrHTTP, method, Redact(u), resp.Status)
		default:
			discard(resp)
			return nil, &StatusError{Method: method, URL: Redact(u), Code: resp.StatusCode, Status: resp.Status}
		}
		if attempt == c.opt.MaxRetries {
			break
		}
		if wait == 0 {
			wait = retry.Delay(c.opt.Backoff, 30*time.Second, attempt)
		}
		c.log.Warn("http request failed, retrying", "method", method, "url", Redact(u), "attempt", attempt+1, "wait", wait, "err", lastErr)
		if !retry.Sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("after %d retries: %w", c.opt.MaxRetries, lastErr)
}

// StatusError is a response retrying cannot fix (a 4xx other than 429).
// It wraps ErrHTTP; Code lets a destination tell 404 from 422.
type StatusError struct {
	Method, URL, Status string
	Code                int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%v: %s %s: %s", ErrHTTP, e.Method, e.URL, e.Status)
}

func (e *StatusError) Unwrap() error { return ErrHTTP }

func (c *Client) authorize(req *http.Request) error {
	a := c.opt.Auth
	switch a.Type {
	case "api_key":
		req.Header.Set(a.Header, a.Key)
	case "basic":
		req.SetBasicAuth(a.Username, a.Password)
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+a.Token)
	case "oauth2":
		c.tokMu.Lock()
		ts := c.ts
		c.tokMu.Unlock()
		tok, err := ts.Token()
		if err != nil {
			return fmt.Errorf("oauth2 token from %s: %w", Redact(a.TokenURL), StripURLError(err))
		}
		tok.SetAuthHeader(req)
	}
	return nil
}

// CloseIdleConnections releases pooled connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// StripURLError drops the URL a *url.Error carries, which may hold query
// secrets; callers name the redacted URL themselves.
func StripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// RetryAfter parses Retry-After as seconds or an HTTP date, capped at 5m.
func RetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return min(time.Duration(n)*time.Second, 5*time.Minute)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), 5*time.Minute)
	}
	return 0
}

var secretParams = []string{"key", "token", "secret", "password", "signature", "auth", "sig"}

// Redact removes user info and secret-looking query values from a URL so it
// can appear in errors and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid url>"
	}
	u.User = nil
	q := u.Query()
	for k := range q {
		lk := strings.ToLower(k)
		for _, s := range secretParams {
			if strings.Contains(lk, s) {
				q.Set(k, "REDACTED")
			}
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
