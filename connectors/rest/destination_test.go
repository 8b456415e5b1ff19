package rest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// crm is an httptest CRM collection that behaves like a real one: API key,
// POST creates (honouring Idempotency-Key), PATCH updates, DELETE removes,
// 422 for an invalid e-mail, and scripted 5xx answers.
type crm struct {
	mu       sync.Mutex
	contacts map[string]map[string]any
	idem     map[string]string // Idempotency-Key -> id created
	seq      int
	// failAfterWrite: answer 500 after applying this many more writes
	// (a lost response); failAll: answer 503 to everything.
	failAfterWrite int
	failAll        bool
	downAfter      int // go down (failAll) after this many more PATCHes

	methods []string
}

func newCRM() *crm {
	return &crm{contacts: map[string]map[string]any{}, idem: map[string]string{}}
}

func (c *crm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.methods = append(c.methods, r.Method+" "+r.URL.EscapedPath())
	if r.Header.Get("X-API-Key") != "k3y" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if c.failAll {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v1/contacts")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	id := strings.TrimPrefix(rest, "/")
	var body map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &body) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if e, ok := body["email"].(string); ok && !strings.Contains(e, "@") {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
	}
	lost := func() bool {
		if c.failAfterWrite > 0 {
			c.failAfterWrite--
			if c.failAfterWrite == 0 {
				w.WriteHeader(http.StatusInternalServerError)
				return true
			}
		}
		return false
	}
	switch {
	case r.Method == http.MethodPost && id == "":
		key := r.Header.Get("Idempotency-Key")
		newID, seen := c.idem[key]
		if !seen || key == "" {
			c.seq++
			newID = "c" + strconv.Itoa(c.seq)
			c.contacts[newID] = body
			c.idem[key] = newID
		}
		if lost() {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"id": newID}})
	case r.Method == http.MethodPatch && id != "":
		cur, ok := c.contacts[id]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		for k, v := range body {
			cur[k] = v
		}
		if lost() {
			return
		}
		if c.downAfter > 0 {
			c.downAfter--
			c.failAll = c.downAfter == 0
		}
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodDelete && id != "":
		if _, ok := c.contacts[id]; !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		delete(c.contacts, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func newDest(t *testing.T, base string, retries int) *Destination {
	t.Helper()
	d := &Destination{backoff: 5 * time.Millisecond}
	ctx := context.Background()
	err := d.Configure(ctx, sdk.Config{"base_url": base, "rate_limit": "1000", "max_retries": retries,
		"auth":     map[string]any{"type": "api_key", "key": "k3y"},
		"entities": []any{map[string]any{"name": "contacts", "path": "/api/v1/contacts", "id": "data.id", "columns": []any{"name", "email"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Teardown(context.Background()) })
	return d
}

func wrec(id string, op sdk.Operation, payload string) sdk.Record {
	return sdk.Record{Entity: "contacts", ID: id, Op: op, Payload: []byte(payload)}
}

func TestDestinationWrite(t *testing.T) {
	c := newCRM()
	srv := httptest.NewServer(c)
	defer srv.Close()
	d := newDest(t, srv.URL, 3)
	ctx := context.Background()

	// The first create's response is lost (500 after the server stored
	// it): the retry carries the same Idempotency-Key, so the CRM does not
	// create a second contact.
	c.failAfterWrite = 1
	res, err := d.Write(ctx, []sdk.Record{
		wrec("", sdk.OpUpsert, `{"name": "Anna", "email": "anna@example.com"}`),
		wrec("", sdk.OpUpsert, `{"name": "Bob", "email": "bob-at-example"}`),
		wrec("", sdk.OpUpsert, `{"name": "Carl", "credit_limit": 900}`),
		wrec("c1", sdk.OpUpsert, `{"email": "anna@example.org"}`),
		wrec("c404", sdk.OpUpsert, `{"name": "Ghost"}`),
		wrec("c1", sdk.OpUpsert, `"just a string"`),
		{Entity: "orders", Op: sdk.OpUpsert, Payload: []byte(`{}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ id, err string }{
		{"c1", ""},
		{"", "422"},
		{"", "credit_limit"},
		{"c1", ""},
		{"c404", "404"},
		{"c1", "not a JSON object"},
		{"", "not configured"},
	}
	for i, w := range want {
		if res[i].ID != w.id || (w.err == "") != (res[i].Error == "") || !strings.Contains(res[i].Error, w.err) {
			t.Errorf("record %d: got %+v, want id %q and error containing %q", i, res[i], w.id, w.err)
		}
	}
	if strings.Contains(res[1].Error, "bob-at-example") || !strings.Contains(res[1].Error, "/api/v1/contacts") {
		t.Errorf("error must name the URL and not echo values: %s", res[1].Error)
	}
	c.mu.Lock()
	if len(c.contacts) != 1 || c.contacts["c1"]["email"] != "anna@example.org" || c.contacts["c1"]["name"] != "Anna" {
		t.Errorf("CRM holds %v", c.contacts)
	}
	c.mu.Unlock()

	// Deletes: an existing one and one already gone both succeed; an id
	// that tries to leave the collection stays one escaped path segment.
	res, err = d.Write(ctx, []sdk.Record{wrec("c1", sdk.OpDelete, ""), wrec("c1", sdk.OpDelete, ""), wrec("../admin", sdk.OpDelete, "")})
	if err != nil || res[0].Error != "" || res[1].Error != "" || res[2].Error != "" {
		t.Fatalf("deletes: %v %+v", err, res)
	}
	c.mu.Lock()
	last := c.methods[len(c.methods)-1]
	c.mu.Unlock()
	if last != "DELETE /api/v1/contacts/..%2Fadmin" {
		t.Errorf("escaped delete went to %q", last)
	}
}

// TestDestinationUnavailable: an API that stays down fails a batch with
// nothing written as a whole; after a write went through, the rest is
// reported as not written.
func TestDestinationUnavailable(t *testing.T) {
	c := newCRM()
	srv := httptest.NewServer(c)
	defer srv.Close()
	d := newDest(t, srv.URL, 1)
	ctx := context.Background()
	c.failAll = true
	res, err := d.Write(ctx, []sdk.Record{wrec("", sdk.OpUpsert, `{"name": "A"}`)})
	if err == nil || res != nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("want a batch error naming 503, got %v %+v", err, res)
	}
	c.failAll = false
	c.failAfterWrite = 0
	c.mu.Lock()
	c.contacts["c9"] = map[string]any{}
	c.mu.Unlock()
	// A server that goes down after the first record: the first is
	// written, the others are reported as not written.
	c.mu.Lock()
	c.downAfter = 1
	c.mu.Unlock()
	res, err = d.Write(ctx, []sdk.Record{wrec("c9", sdk.OpUpsert, `{"name": "B"}`), wrec("c9", sdk.OpUpsert, `{"name": "C"}`), wrec("c9", sdk.OpUpsert, `{"name": "D"}`)})
	if err != nil || res[0].Error != "" || !strings.Contains(res[1].Error, "not written") || !strings.Contains(res[2].Error, "not written") {
		t.Fatalf("partial: %v %+v", err, res)
	}
	c.mu.Lock()
	name := c.contacts["c9"]["name"]
	c.mu.Unlock()
	if name != "B" {
		t.Errorf("c9 name %v, want B", name)
	}
	srv.Close()
	res, err = d.Write(ctx, []sdk.Record{wrec("c9", sdk.OpUpsert, `{"name": "E"}`)})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("closed server: want a batch error, got %v %+v", err, res)
	}
}

func TestDestinationExampleConfig(t *testing.T) {
	b, err := os.ReadFile("testdata/destination.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Connectors []struct {
			Settings map[string]any `yaml:"settings"`
		} `yaml:"connectors"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if err := Connector.NewDestination().Configure(context.Background(), doc.Connectors[0].Settings); err != nil {
		t.Fatal(err)
	}
	err = Connector.NewDestination().Configure(context.Background(), sdk.Config{"base_url": "ftp://x", "entities": []any{map[string]any{"name": "c", "path": "/c", "update_method": "POST"}}})
	for _, want := range []string{"base_url", "update_method"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config error %v does not mention %s", err, want)
		}
	}
	// Source-only settings are refused, not ignored.
	err = Connector.NewDestination().Configure(context.Background(), sdk.Config{"base_url": "http://x", "entities": []any{map[string]any{"name": "c", "path": "/c", "pagination": map[string]any{"type": "page"}}}})
	if err == nil || !strings.Contains(err.Error(), "pagination") {
		t.Errorf("pagination in a destination: %v", err)
	}
}
