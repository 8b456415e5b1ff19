package rest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/crmhub/connectors/internal/apiclient"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// DestConfig is the typed form of the "rest" parameters of a destination:
// the same API settings as the source (Common), and per entity where
// records go.
type DestConfig struct {
	Common
	Entities []DestEntity `json:"entities"`
}

// DestEntity is one item of `entities` for a destination. The keys it
// shares with Entity are documented there too.
type DestEntity struct {
	Name string "json:\"name\""
	Path string "json:\"path\" doc:\"Destination: the collection: POST `{base_url}{path}` creates, PATCH `{base_url}{path}/{id}` updates, DELETE deletes.\""
	// ID is the dot path of the new record's id in a create response.
	ID string "json:\"id\" doc:\"Destination: dot path of the new id in a create response (default `id`).\""
	// Columns, when set, is the allow-list of payload fields.
	Columns []string `json:"columns" doc:"Destination: allow-list of payload fields."`
	// UpdateMethod is PATCH (default) or PUT.
	UpdateMethod string "json:\"update_method\" doc:\"Destination: `PATCH` (default) or `PUT`.\""
}

func parseDestConfig(cfg sdk.Config) (DestConfig, error) {
	var c DestConfig
	if err := Connector.Spec.DecodeFor(sdk.KindDestination, cfg, &c); err != nil {
		return c, err
	}
	errs := c.checkCommon()
	if len(c.Entities) == 0 {
		errs = append(errs, errors.New("rest: entities: at least one entity is required"))
	}
	seen := map[string]bool{}
	for i := range c.Entities {
		e := &c.Entities[i]
		where := fmt.Sprintf("rest: entities[%d] (%s)", i, e.Name)
		if e.Name == "" || e.Path == "" {
			errs = append(errs, fmt.Errorf("%s: name and path are required", where))
		}
		if seen[e.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name", where))
		}
		seen[e.Name] = true
		if e.ID == "" {
			e.ID = "id"
		}
		switch strings.ToUpper(e.UpdateMethod) {
		case "", "PATCH":
			e.UpdateMethod = http.MethodPatch
		case "PUT":
			e.UpdateMethod = http.MethodPut
		default:
			errs = append(errs, fmt.Errorf("%s: update_method %q: want PATCH or PUT", where, e.UpdateMethod))
		}
	}
	return c, errors.Join(errs...)
}

// Destination writes records to a JSON API: a record without ID is created
// by POST {base_url}{path}, one with an ID is updated by PATCH (or PUT)
// {base_url}{path}/{id}, a delete is DELETE {base_url}{path}/{id}. It uses
// the source's auth, rate limit and retries. Write is called from one
// goroutine.
type Destination struct {
	sdk.UnimplementedDestination
	cfg    DestConfig
	client *apiclient.Client
	log    *slog.Logger
	ents   map[string]DestEntity
	// backoff is the first retry delay; tests shorten it.
	backoff time.Duration
}

var _ sdk.Destination = (*Destination)(nil)

// Configure checks the settings without touching the network.
func (d *Destination) Configure(_ context.Context, cfg sdk.Config) error {
	c, err := parseDestConfig(cfg)
	if err != nil {
		return err
	}
	d.cfg = c
	d.log = slog.Default().With("connector", "rest", "kind", "destination")
	d.ents = map[string]DestEntity{}
	for _, e := range c.Entities {
		d.ents[e.Name] = e
	}
	return nil
}

// Open builds the HTTP client; the API is first contacted by Write.
func (d *Destination) Open(context.Context) error {
	d.client = d.cfg.newClient(d.backoff, d.log)
	return nil
}

// Write sends one request per record, in order. A record the API refuses
// (a 4xx other than 429) or that breaks the allow-list gets its own error
// and the batch goes on. When the API stays unavailable after the retries
// (5xx, 429, network), a batch with nothing written yet fails as a whole
// (safe to retry); otherwise the records from the failure on are reported
// as not written.
func (d *Destination) Write(ctx context.Context, records []sdk.Record) ([]sdk.WriteResult, error) {
	if d.client == nil {
		return nil, errors.New("rest: Write before Open")
	}
	res := make([]sdk.WriteResult, len(records))
	for i, r := range records {
		id, err := d.write(ctx, r)
		var se *apiclient.StatusError
		if err != nil && !errors.As(err, &se) && !errors.Is(err, errRecord) {
			if i == 0 {
				return nil, err
			}
			for j := i; j < len(records); j++ {
				res[j] = sdk.WriteResult{ID: records[j].ID, Error: fmt.Sprintf("rest: not written: %v", err)}
			}
			return res, nil
		}
		res[i].ID = id
		if err != nil {
			res[i].Error = err.Error()
		}
	}
	return res, nil
}

// errRecord marks a problem of the record itself, found before any request.
var errRecord = errors.New("record refused")

func (d *Destination) write(ctx context.Context, r sdk.Record) (string, error) {
	e, ok := d.ents[r.Entity]
	where := fmt.Sprintf("rest: entity %s record %s", r.Entity, r.ID)
	if !ok {
		return r.ID, fmt.Errorf("%s: %w: entity is not configured for write-back", where, errRecord)
	}
	if r.Op == sdk.OpDelete {
		if r.ID == "" {
			return "", fmt.Errorf("%s: %w: a delete needs the record id", where, errRecord)
		}
		_, err := d.client.Do(ctx, http.MethodDelete, d.url(e, r.ID), nil, nil)
		var se *apiclient.StatusError
		if errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusGone) {
			return r.ID, nil // already gone is what a delete wants
		}
		if err != nil {
			return r.ID, fmt.Errorf("%s: %w", where, err)
		}
		return r.ID, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(r.Payload, &obj); err != nil || obj == nil {
		return r.ID, fmt.Errorf("%s: %w: payload is not a JSON object", where, errRecord)
	}
	if len(e.Columns) > 0 {
		var refused []string
		for f := range obj {
			if !slices.Contains(e.Columns, f) {
				refused = append(refused, f)
			}
		}
		if len(refused) > 0 {
			slices.Sort(refused)
			return r.ID, fmt.Errorf("%s: %w: field %s not in the columns allow-list; nothing sent", where, errRecord, strings.Join(refused, ", "))
		}
	}
	body := bytes.TrimSpace(r.Payload)
	if r.ID != "" {
		if _, err := d.client.Do(ctx, e.UpdateMethod, d.url(e, r.ID), body, nil); err != nil {
			return r.ID, fmt.Errorf("%s: %w", where, err)
		}
		return r.ID, nil
	}
	// A POST retried after a lost response would create the record twice;
	// APIs that honour Idempotency-Key answer the retry with the first one.
	sum := sha256.Sum256(append([]byte(r.Entity+"\x00"), body...))
	hdr := http.Header{"Idempotency-Key": {hex.EncodeToString(sum[:16])}}
	resp, err := d.client.Do(ctx, http.MethodPost, d.url(e, ""), body, hdr)
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	if id, ok := pathValue(resp.Body, e.ID); ok {
		return id, nil
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil && path.Base(u.Path) != "/" {
			if id, err := url.PathUnescape(path.Base(u.Path)); err == nil {
				return id, nil
			}
		}
	}
	// Created, but the API did not say under which id; failing would make
	// the caller create it again.
	d.log.Warn("rest create response carries no id", "entity", r.Entity, "id_path", e.ID)
	return "", nil
}

// url is {base_url}{path} or {base_url}{path}/{id}, the id escaped as one
// path segment so an id like "../admin" cannot leave the collection.
func (d *Destination) url(e DestEntity, id string) string {
	u := strings.TrimRight(d.cfg.base.String(), "/") + "/" + strings.Trim(e.Path, "/")
	if id != "" {
		u += "/" + url.PathEscape(id)
	}
	return u
}

// Teardown releases idle connections.
func (d *Destination) Teardown(context.Context) error {
	if d.client != nil {
		d.client.CloseIdleConnections()
	}
	return nil
}
