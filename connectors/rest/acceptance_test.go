package rest

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/plugins/sdk"
	"github.com/crmhub/crmhub/plugins/sdk/sdktest"
)

// The rest connector runs the acceptance suites every connector runs
// (plugins/sdk/sdktest): as a source over the paged test CRM, and as a
// destination creating contacts in the test CRM collection.
func TestAcceptanceSource(t *testing.T) {
	ent := map[string]any{"name": "contacts", "path": "/api/v1/contacts", "records": "data", "id": "id", "updated_at": "updated_at",
		"since_param": "updated_since",
		"pagination":  map[string]any{"type": "page", "param": "page", "size_param": "per_page", "size": 4, "total_pages_path": "total_pages"}}
	cfg := sdk.Config{"rate_limit": "1000", "auth": map[string]any{"type": "api_key", "key": "k3y"}, "entities": []any{ent}}
	sdktest.AcceptSource(t, Connector, cfg, sdktest.Options{
		// A batch is a page (size 4): the position is the state after the
		// page, so Read hands out whole pages even past max. A resume in
		// the middle of a pass restarts the pass: records come again.
		MinRecords: 11, BatchSize: 4, AtLeastOnce: true,
		Prepare: func(t *testing.T, cfg sdk.Config) sdk.Config {
			srv := httptest.NewServer(newAPI(11))
			t.Cleanup(srv.Close)
			out := sdk.Config{"base_url": srv.URL}
			for k, v := range cfg {
				out[k] = v
			}
			return out
		},
	})
}

// The same with state_dir and full passes (no since_param, deletes:
// missing). Still at least once: the suite resumes from positions older
// than one it acknowledged, whose state files that ack removed; the exact
// restart from the last acknowledged position is state_test.go's.
func TestAcceptanceSourceStateDir(t *testing.T) {
	ent := map[string]any{"name": "contacts", "path": "/api/v1/contacts", "records": "data", "id": "id", "deletes": "missing",
		"pagination": map[string]any{"type": "page", "param": "page", "size_param": "per_page", "size": 4, "total_pages_path": "total_pages"}}
	cfg := sdk.Config{"rate_limit": "1000", "auth": map[string]any{"type": "api_key", "key": "k3y"}, "entities": []any{ent}}
	sdktest.AcceptSource(t, Connector, cfg, sdktest.Options{
		MinRecords: 11, BatchSize: 4, AtLeastOnce: true,
		Prepare: func(t *testing.T, cfg sdk.Config) sdk.Config {
			srv := httptest.NewServer(newAPI(11))
			t.Cleanup(srv.Close)
			out := sdk.Config{"base_url": srv.URL, "state_dir": t.TempDir()}
			for k, v := range cfg {
				out[k] = v
			}
			return out
		},
	})
}

func TestAcceptanceDestination(t *testing.T) {
	ent := map[string]any{"name": "contacts", "path": "/api/v1/contacts", "id": "data.id", "columns": []any{"name", "email"}}
	cfg := sdk.Config{"rate_limit": "1000", "auth": map[string]any{"type": "api_key", "key": "k3y"}, "entities": []any{ent}}
	var c *crm
	sdktest.AcceptDestination(t, Connector, cfg, sdktest.DestinationOptions{
		Records: []sdk.Record{
			{Entity: "contacts", Op: sdk.OpUpsert, Payload: []byte(`{"name":"Anna","email":"anna@example.com"}`)},
			{Entity: "contacts", Op: sdk.OpUpsert, Payload: []byte(`{"name":"Ben","email":"ben@example.com"}`)},
		},
		Prepare: func(t *testing.T, cfg sdk.Config) sdk.Config {
			c = newCRM()
			srv := httptest.NewServer(c)
			t.Cleanup(srv.Close)
			out := sdk.Config{"base_url": srv.URL}
			for k, v := range cfg {
				out[k] = v
			}
			return out
		},
		Check: func(t *testing.T, _ sdk.Config, res []sdk.WriteResult) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.contacts) != 2 {
				t.Errorf("the CRM holds %d contacts, want the 2 written", len(c.contacts))
			}
			for i, r := range res {
				if _, ok := c.contacts[r.ID]; !ok {
					t.Errorf("result %d names id %q, which the CRM does not hold", i, r.ID)
				}
			}
		},
		// The CRM's contacts by the ids it gave them.
		Target: func(t *testing.T, _ sdk.Config) map[string]map[string]string {
			c.mu.Lock()
			defer c.mu.Unlock()
			out := map[string]map[string]string{}
			for id, f := range c.contacts {
				row := map[string]string{}
				for k, v := range f {
					row[k] = fmt.Sprint(v)
				}
				out[id] = row
			}
			return out
		},
		Update: func(r sdk.Record) sdk.Record {
			r.Payload = []byte(strings.Replace(string(r.Payload), `","email"`, ` (renamed)","email"`, 1))
			return r
		},
		Deletes: true,
		Bad: []sdk.Record{
			{Entity: "contacts", Op: sdk.OpUpsert, Payload: []byte(`{"name":"Eve","phone":"1"}`)},     // outside columns
			{Entity: "contacts", Op: sdk.OpUpsert, Payload: []byte(`{"name":"Eve","email":"no-at"}`)}, // the API answers 422
			{Entity: "contacts", Op: sdk.OpUpsert, Payload: []byte(`"not an object"`)},                // refused before sending
			{Entity: "orders", ID: "1", Op: sdk.OpUpsert, Payload: []byte(`{"name":"Eve"}`)},          // entity not configured
		},
	})
}
