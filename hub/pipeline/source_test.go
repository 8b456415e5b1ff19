package pipeline

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

const hookMapping = `mapping: hooks_customers
version: 1
source: {system: hooks, entity: customers}
target: {entity: customer, schema: v1}
fields:
  kind: '"person"'
  full_name: trim(name)
  phones[]: phone(phone, "DE")
`

type oneMapping struct{ m *mapping.Mapping }

func (o oneMapping) Lookup(system, entity string) (*mapping.Mapping, bool) { return o.m, true }

// TestSourceWithoutTimestamps: a source that cannot tell when a record
// changed (a webhook) must not lose updates: the later read wins in the
// store whatever order the versions are applied in, and re-reading an
// unchanged record is still recognised as the same event.
func TestSourceWithoutTimestamps(t *testing.T) {
	m, err := mapping.Parse("hooks_customers.yaml", []byte(hookMapping))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	src := &Source{Name: "hooks", System: "hooks", Mappings: oneMapping{m}, Topics: hub.Topics{Prefix: "crmhub"},
		Metrics: NewMetrics(prometheus.NewRegistry()), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return clock }}
	read := func(phone string) *hub.Envelope {
		t.Helper()
		clock = clock.Add(time.Second)
		env, dl := src.mapRecord(&sdk.Record{Entity: "customers", ID: "W-1", Op: sdk.OpUpsert,
			Payload: []byte(`{"name":"Ada Muster","phone":"` + phone + `"}`)}, clock)
		if dl != nil {
			t.Fatalf("dead letter: %+v", dl)
		}
		return env
	}
	v1, v2, again := read("030 1234567"), read("030 7654321"), read("030 1234567")
	if v1.SourceUpdatedAt.IsZero() || !v2.SourceUpdatedAt.After(v1.SourceUpdatedAt) {
		t.Fatalf("versions not ordered by read time: %v, %v", v1.SourceUpdatedAt, v2.SourceUpdatedAt)
	}
	if again.EventID != v1.EventID {
		t.Errorf("re-reading unchanged content gave a new event id")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "hub.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The newer version first, the older after: the older must not win.
	for _, e := range []hub.Envelope{*v2, *v1} {
		if _, err := st.Apply(ctx, []hub.Envelope{e}); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := st.FindCustomers(ctx, hub.CustomerFilter{System: "hooks", SourceID: "W-1"})
	if err != nil || len(vs) != 1 {
		t.Fatalf("find: %v %v", vs, err)
	}
	if got := vs[0].Customer.Phones; len(got) != 1 || got[0] != "+49307654321" {
		t.Errorf("phones %v, want the later read's +49307654321", got)
	}
}

// A value the mapping cannot read is left out and the record goes on; the
// drop is counted per mapping, field and cleaner, never silent.
func TestSourceCountsDroppedValues(t *testing.T) {
	m, err := mapping.Parse("hooks_customers.yaml", []byte(hookMapping))
	if err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics(prometheus.NewRegistry())
	src := &Source{Name: "hooks", System: "hooks", Mappings: oneMapping{m}, Topics: hub.Topics{Prefix: "crmhub"},
		Metrics: metrics, Logger: slog.New(slog.DiscardHandler)}
	for i, phone := range []string{"030 1234567", "call me maybe", "n/a"} {
		env, dl := src.mapRecord(&sdk.Record{Entity: "customers", ID: "W-" + strconv.Itoa(i), Op: sdk.OpUpsert,
			Payload: []byte(`{"name":"Ada Muster","phone":"` + phone + `"}`)}, time.Now())
		if dl != nil || env == nil {
			t.Fatalf("record %d: dead letter %+v", i, dl)
		}
	}
	if got := testutil.ToFloat64(metrics.ValuesDropped.WithLabelValues("hooks_customers", "phones[]", "phone: not a valid number for the region")); got != 2 {
		t.Errorf("crmhub_mapping_values_dropped_total{field=phones[],reason=phone: not a valid number for the region} = %v, want 2", got)
	}
}

// Drops inside map() are counted like top-level ones, and a phone with an
// unknown country is a counted drop, not a dead letter.
func TestSourceCountsNestedDroppedValues(t *testing.T) {
	m, err := mapping.Parse("hooks_parties.yaml", []byte(`mapping: hooks_parties
version: 1
source: {system: hooks, entity: customers}
target: {entity: customer, schema: v1}
fields:
  kind: '"person"'
  full_name: trim(name)
  phones[]: 'map(phones, phone(#, country))'
`))
	if err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics(prometheus.NewRegistry())
	src := &Source{Name: "hooks", System: "hooks", Mappings: oneMapping{m}, Topics: hub.Topics{Prefix: "crmhub"},
		Metrics: metrics, Logger: slog.New(slog.DiscardHandler)}
	for i, payload := range []string{
		`{"name":"Ada","country":"DE","phones":["030 1234567","12"]}`,
		`{"name":"Bea","country":"Atlantis","phones":["030 1234567"]}`,
	} {
		env, dl := src.mapRecord(&sdk.Record{Entity: "customers", ID: "N-" + strconv.Itoa(i), Op: sdk.OpUpsert, Payload: []byte(payload)}, time.Now())
		if dl != nil || env == nil {
			t.Fatalf("record %d: dead letter %+v", i, dl)
		}
	}
	for reason, want := range map[string]float64{"phone: not a valid number for the region": 1, "phone: unknown region": 1} {
		if got := testutil.ToFloat64(metrics.ValuesDropped.WithLabelValues("hooks_parties", "phones[]", reason)); got != want {
			t.Errorf("crmhub_mapping_values_dropped_total{field=phones[],reason=%s} = %v, want %v", reason, got, want)
		}
	}
}

// A source error's reason names the place once: the connector's own
// "file x line n:" is not repeated after the runner's.
func TestSourceErrorReasonNamesThePlaceOnce(t *testing.T) {
	src := &Source{Name: "fibu", System: "finance", Mappings: oneMapping{}, Topics: hub.Topics{Prefix: "crmhub"},
		Metrics: NewMetrics(prometheus.NewRegistry()), Logger: slog.New(slog.DiscardHandler)}
	_, dl := src.mapRecord(&sdk.Record{Entity: "debtors", ID: "in/a.csv:2", Error: "file in/a.csv line 2: 4 fields, want 3",
		Meta: map[string]string{"file": "in/a.csv", "line": "2"}, Payload: []byte(`{"raw":"eA=="}`)}, time.Now())
	if dl == nil {
		t.Fatal("no dead letter")
	}
	if want := "fibu/debtors id in/a.csv:2 file in/a.csv line 2: 4 fields, want 3"; dl.Reason != want {
		t.Errorf("reason %q, want %q", dl.Reason, want)
	}
}
