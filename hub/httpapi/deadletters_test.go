package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/httpapi"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/store/deadletters"
	"github.com/crmhub/crmhub/mapping"
)

const dlMapping = `mapping: crm_contacts
version: %d
source: {system: crm, entity: contacts}
target: {entity: customer, schema: v1}
fields:
  kind: '"person"'
  family_name: trim(last)
  created_at: timestamp(since, %q)
`

// deadLettersFor is the dead-letter service of a test handler: the real
// store, an embedded Kafka broker, and the mappings in dir.
func deadLettersFor(t *testing.T, s *store.Store, dir string) (*pipeline.DeadLetterService, *bus.Bus, *mapping.Set) {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "api", Partitions: 1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	set, err := mapping.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline.DeadLetterService{Store: deadletters.New(s.DB()), Mappings: set, Publisher: b, Topics: b.Topics()}, b, set
}

func writeMapping(t *testing.T, dir string, version int, layout string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "crm_contacts.yaml"), fmt.Appendf(nil, dlMapping, version, layout), 0o644); err != nil {
		t.Fatal(err)
	}
}

type dlFixture struct {
	*fixture
	set *mapping.Set
	bus *bus.Bus
	dir string
}

func newDLFixture(t *testing.T) *dlFixture {
	t.Helper()
	base := newFixture(t)
	dir := t.TempDir()
	writeMapping(t, dir, 1, "YYYY-MM-DD") // broken: the source writes DD.MM.YYYY
	svc, b, set := deadLettersFor(t, base.store, dir)
	srv := httptest.NewServer(httpapi.New(base.store, httpapi.Options{DeadLetters: svc,
		Actor: func(r *http.Request) (string, bool) { a := r.Header.Get("X-Test-Actor"); return a, a != "" }}))
	t.Cleanup(srv.Close)
	f := &dlFixture{fixture: &fixture{srv: srv, store: base.store}, set: set, bus: b, dir: dir}
	var entries []hub.DeadLetterEntry
	for i := range 5 {
		e := hub.DeadLetterEntry{ID: fmt.Sprintf("api.deadletter:0:%d", i), DeadLetter: hub.DeadLetter{
			Connector: "crm", System: "crm", SourceEntity: "contacts", SourceID: fmt.Sprint("C", i),
			Mapping: "crm_contacts", MappingVersion: 1, Field: "created_at", ReasonClass: hub.ReasonMapping,
			Reason: "timestamp: cannot read", Payload: json.RawMessage(fmt.Sprintf(`{"last":"N%d","since":"0%d.02.2020"}`, i, i+1)),
			At: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
		if i == 4 {
			e.ReasonClass, e.Field, e.SourceID, e.Payload, e.Raw = hub.ReasonSource, "", "", nil, []byte(`C4;"broken`)
		}
		entries = append(entries, e)
	}
	if _, err := deadletters.New(base.store.DB()).IndexDeadLetters(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDeadLetterRoutes(t *testing.T) {
	f := newDLFixture(t)
	type page struct {
		Items      []hub.DeadLetterEntry
		NextCursor string `json:"next_cursor"`
	}
	// Pages of 2 over the mapping errors: 4 entries, each once.
	var seen []string
	path := "/v1/deadletters?reason_class=mapping_error&status=open&limit=2"
	for path != "" {
		var p page
		if resp := f.get(t, path, &p); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		for _, e := range p.Items {
			if e.ReasonClass != hub.ReasonMapping || e.Reason == "" || e.Field != "created_at" {
				t.Fatalf("list item without its reason: %+v", e)
			}
			seen = append(seen, e.ID)
		}
		path = ""
		if p.NextCursor != "" {
			path = "/v1/deadletters?reason_class=mapping_error&status=open&limit=2&cursor=" + p.NextCursor
		}
	}
	if len(seen) != 4 {
		t.Fatalf("paged: %v", seen)
	}
	var e errBody
	for _, bad := range []string{"/v1/deadletters?status=closed", "/v1/deadletters?cursor=zz", "/v1/deadletters?limit=0"} {
		if resp := f.get(t, bad, &e); resp.StatusCode != 400 || e.Error.Code != "invalid_argument" {
			t.Fatalf("GET %s: %d %+v", bad, resp.StatusCode, e)
		}
	}
	var one hub.DeadLetterEntry
	if resp := f.get(t, "/v1/deadletters/api.deadletter:0:1", &one); resp.StatusCode != 200 || one.SourceID != "C1" || string(one.Payload) == "" {
		t.Fatalf("get: %d %+v", resp.StatusCode, one)
	}
	if resp := f.get(t, "/v1/deadletters/api.deadletter:0:99", &e); resp.StatusCode != 404 {
		t.Fatalf("unknown id: %d", resp.StatusCode)
	}

	if code := f.post(t, "/v1/deadletters/api.deadletter:0:0/replay", "", map[string]any{}, &e); code != 403 {
		t.Fatalf("replay without actor: %d", code)
	}
	if code := f.post(t, "/v1/deadletters/api.deadletter:0:4/replay", "ops", map[string]any{}, &e); code != 409 || e.Error.Code != "conflict" {
		t.Fatalf("replay of a source error: %d %+v", code, e)
	}
	var res hub.ReplayResult
	if code := f.post(t, "/v1/deadletters/api.deadletter:0:0/replay", "ops", map[string]any{}, &res); code != 200 ||
		res.Outcome != hub.ReplayFailed || res.Status != hub.DeadLetterOpen || res.Field != "created_at" {
		t.Fatalf("replay with the broken mapping: %d %+v", code, res)
	}

	writeMapping(t, f.dir, 2, "DD.MM.YYYY")
	if err := f.set.Reload(f.dir); err != nil {
		t.Fatal(err)
	}
	if code := f.post(t, "/v1/deadletters/api.deadletter:0:0/replay", "ops", map[string]any{}, &res); code != 200 ||
		res.Outcome != hub.ReplayPublished || res.Status != hub.DeadLetterReplayed || res.Topic != "api.customer.v1" {
		t.Fatalf("replay after the fix: %d %+v", code, res)
	}
	if code := f.post(t, "/v1/deadletters/replay", "ops", map[string]any{}, &e); code != 400 {
		t.Fatalf("replay everything without a filter: %d", code)
	}
	var sum hub.ReplaySummary
	if code := f.post(t, "/v1/deadletters/replay", "ops", map[string]string{"connector": "crm"}, &sum); code != 200 ||
		sum.Matched != 4 || sum.Published != 3 || sum.NotReplayable != 1 {
		t.Fatalf("replay by connector: %d %+v", code, sum)
	}

	// The four replayed records are on the canonical topic, mapped by v2.
	c := f.bus.NewConsumer("check", []string{"api.customer.v1"})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	got := map[string]bool{}
	for len(got) < 4 {
		msgs, err := c.Fetch(ctx, 10, 100*time.Millisecond)
		if err != nil {
			t.Fatalf("canonical topic holds %d of 4: %v", len(got), err)
		}
		for _, m := range msgs {
			var env hub.Envelope
			if err := json.Unmarshal(m.Value, &env); err != nil || env.MappingVersion != 2 || env.Connector != "crm" {
				t.Fatalf("canonical record: %s %v", m.Value, err)
			}
			got[env.SourceID] = true
		}
	}

	if code := f.post(t, "/v1/deadletters/api.deadletter:0:4/resolve", "ops", map[string]string{}, &e); code != 400 {
		t.Fatalf("resolve without note: %d", code)
	}
	var resolved hub.DeadLetterEntry
	if code := f.post(t, "/v1/deadletters/api.deadletter:0:4/resolve", "ops", map[string]string{"note": "re-exported"}, &resolved); code != 200 ||
		resolved.Status != hub.DeadLetterResolved || resolved.Actor != "ops" || resolved.Note != "re-exported" {
		t.Fatalf("resolve: %d %+v", code, resolved)
	}
	// The line the connector could not read is shown as text, not base64.
	if resolved.RawText != `C4;"broken` || len(resolved.Raw) != 0 {
		t.Errorf("source error raw_text %q raw %q, want the line as text", resolved.RawText, resolved.Raw)
	}
	if code := f.post(t, "/v1/deadletters/api.deadletter:0:4/resolve", "ops", map[string]string{"note": "again"}, &e); code != 409 {
		t.Fatalf("resolve twice: %d", code)
	}
	var open page
	f.get(t, "/v1/deadletters?status=open", &open)
	if len(open.Items) != 0 {
		t.Fatalf("still open: %+v", open.Items)
	}
}

func dlService(t *testing.T, s *store.Store) hub.DeadLetters {
	dir := t.TempDir()
	writeMapping(t, dir, 1, "DD.MM.YYYY")
	svc, _, _ := deadLettersFor(t, s, dir)
	return svc
}
