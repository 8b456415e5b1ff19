package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// listSource returns one batch of records, then nothing.
type listSource struct {
	sdk.UnimplementedSource
	recs []sdk.Record
	done bool
}

func (s *listSource) Configure(context.Context, sdk.Config) error { return nil }
func (s *listSource) Open(context.Context, sdk.Position) error    { return nil }
func (s *listSource) Read(context.Context, int) ([]sdk.Record, error) {
	if s.done {
		return nil, nil
	}
	s.done = true
	return s.recs, nil
}

// A record whose canonical message is over the broker's limit (read from
// the embedded broker: Kafka's default of about 1 MB) goes to the
// dead-letter topic as too_large with its size, and the good records of
// the same batch arrive; before, the runner retried the whole batch for
// ever and nothing of it arrived.
func TestSourceDeadLettersTooLargeRecord(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "big", Partitions: 1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	topics := hub.Topics{Prefix: "big"}
	if got := b.MaxMessageBytes(topics.Canonical(hub.EntityCustomer)); got < 100_000 || got > 100_000_000 {
		t.Fatalf("limit read from the broker = %d", got)
	}
	m, err := mapping.Parse("hooks_customers.yaml", []byte(hookMapping))
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("Müller ", 1_200_000/8)
	rec := func(id, name string) sdk.Record {
		p, _ := json.Marshal(map[string]string{"name": name, "phone": "030 1234567"})
		return sdk.Record{Entity: "customers", ID: id, Op: sdk.OpUpsert, Payload: p}
	}
	src := &Source{Name: "hooks", System: "hooks", Source: &listSource{recs: []sdk.Record{rec("W-1", "Ada"), rec("W-2", huge), rec("W-3", "Bea")}},
		Mappings: oneMapping{m}, Publisher: b, Positions: &memPositions{m: map[string][]byte{}}, Topics: topics, BatchSize: 10,
		PollInterval: 10 * time.Millisecond, Metrics: NewMetrics(prometheus.NewRegistry()), Logger: slog.New(slog.DiscardHandler)}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- src.Run(rctx) }()
	defer func() { stop(); <-done }()

	canon := b.NewConsumer("t-canon", []string{topics.Canonical(hub.EntityCustomer)})
	defer canon.Close()
	var ids []string
	for len(ids) < 2 {
		msgs, err := canon.Fetch(ctx, 10, 100*time.Millisecond)
		if err != nil {
			t.Fatalf("canonical records of the batch did not arrive: %v (got %v)", err, ids)
		}
		for _, msg := range msgs {
			var env hub.Envelope
			if err := json.Unmarshal(msg.Value, &env); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, env.SourceID)
		}
	}
	if strings.Join(ids, ",") != "W-1,W-3" {
		t.Errorf("canonical records = %v, want W-1 and W-3", ids)
	}
	dlq := b.NewConsumer("t-dlq", []string{topics.DeadLetter()})
	defer dlq.Close()
	msgs, err := dlq.Fetch(ctx, 10, time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("dead letters: %d, %v", len(msgs), err)
	}
	var d hub.DeadLetter
	if err := json.Unmarshal(msgs[0].Value, &d); err != nil {
		t.Fatal(err)
	}
	if d.ReasonClass != hub.ReasonTooLarge || d.SourceID != "W-2" || d.Field != "full_name" || d.Meta["size_bytes"] == "" ||
		d.Meta["payload_truncated"] != "true" || !strings.Contains(d.Reason, "exceeds the limit") {
		t.Errorf("dead letter = class %q id %q field %q meta %v reason %q", d.ReasonClass, d.SourceID, d.Field, d.Meta, d.Reason)
	}
	if n := len(msgs[0].Value); n > 64<<10 {
		t.Errorf("dead letter of %d bytes: its payload was not cut", n)
	}
}

// One golden customer too large for the golden topic does not stop the
// stream: a state over the limit is published without its sources
// (bounded=sources), one whose customer alone is over it is skipped with a
// metric, and the changes after them are published.
func TestGoldenStreamBoundsLargeStates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const limit = 40_000
	b, st := goldenBed(ctx, t, bus.Config{EmbeddedListen: "127.0.0.1:0", TopicPrefix: "gold", Partitions: 1, MaxMessageBytes: limit})
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	env := func(sys, id string, c hub.Customer) hub.Envelope {
		at = at.Add(time.Second)
		return envelopeAt(sys, "customers", id, hub.EntityCustomer, at, c)
	}
	// 15 KB of notes in each of three systems: the customer fits, the
	// state with its three sources does not.
	notes := strings.Repeat("n", 15_000)
	big := func(sys, id string) hub.Envelope {
		return env(sys, id, hub.Customer{Kind: "person", FullName: "Ada Muster", Emails: []string{"ada@example.com"}, AccountManager: notes})
	}
	huge := env("crm", "C-2", hub.Customer{Kind: "person", FullName: strings.Repeat("B", 60_000), Emails: []string{"b@example.com"}})
	small := env("crm", "C-3", hub.Customer{Kind: "person", FullName: "Cem Small", Emails: []string{"cem@example.com"}})
	for _, batch := range [][]hub.Envelope{{big("crm", "C-1"), big("erp", "E-1"), big("shop", "S-1")}, {huge}, {small}} {
		if _, err := st.Apply(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	topics := hub.Topics{Prefix: "gold"}
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)
	runGoldenStream(ctx, t, &GoldenStream{Feed: st, Customers: st, Positions: st, Publisher: b, Topics: topics, Interval: 20 * time.Millisecond,
		Metrics: metrics, Logger: slog.New(slog.DiscardHandler)})

	c := b.NewConsumer("t-golden", []string{topics.GoldenChanges()})
	defer c.Close()
	got := map[string]hub.GoldenState{}
	for len(got) < 2 {
		msgs, err := c.Fetch(ctx, 10, 100*time.Millisecond)
		if err != nil {
			t.Fatalf("golden states: %v (got %d)", err, len(got))
		}
		for _, m := range msgs {
			var s hub.GoldenState
			if err := json.Unmarshal(m.Value, &s); err != nil {
				t.Fatal(err)
			}
			if s.Bounded != m.Headers["bounded"] {
				t.Errorf("state %s bounded %q, header %q", s.ID, s.Bounded, m.Headers["bounded"])
			}
			got[s.Customer.FullName] = s
		}
	}
	if s, ok := got["Ada Muster"]; !ok || s.Bounded != hub.BoundedSources || len(s.Sources) != 0 || s.Customer.AccountManager != notes {
		t.Errorf("large state: present %v bounded %q sources %d, want the whole customer without sources", ok, s.Bounded, len(s.Sources))
	}
	if s, ok := got["Cem Small"]; !ok || s.Bounded != "" || len(s.Sources) != 1 {
		t.Errorf("the change after the large ones: present %v bounded %q sources %d", ok, s.Bounded, len(s.Sources))
	}
	if n := len(got); n != 2 {
		t.Errorf("published %d states, want 2 (the customer over the limit on its own skipped)", n)
	}
	for how, want := range map[string]float64{hub.BoundedSources: 1, "skipped": 1} {
		if v := testutil.ToFloat64(metrics.GoldenTooLarge.WithLabelValues(how)); v != want {
			t.Errorf("crmhub_golden_too_large_total{how=%q} = %v, want %v", how, v, want)
		}
	}
}

// failingPublisher refuses every batch until ok is set.
type failingPublisher struct {
	mu sync.Mutex
	ok bool
	n  int
}

func (p *failingPublisher) Publish(context.Context, ...bus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ok {
		p.n++
		return errors.New("kafka: broker not available")
	}
	return nil
}

// A batch the broker does not take is retried, and the wait shows in
// crmhub_pipeline_publish_blocked until it goes through.
func TestSourcePublishBlockedShows(t *testing.T) {
	m, err := mapping.Parse("hooks_customers.yaml", []byte(hookMapping))
	if err != nil {
		t.Fatal(err)
	}
	pub := &failingPublisher{}
	metrics := NewMetrics(prometheus.NewRegistry())
	rec := sdk.Record{Entity: "customers", ID: "W-1", Op: sdk.OpUpsert, Payload: []byte(`{"name":"Ada"}`)}
	src := &Source{Name: "hooks", System: "hooks", Source: &listSource{recs: []sdk.Record{rec}}, Mappings: oneMapping{m},
		Publisher: pub, Positions: &memPositions{m: map[string][]byte{}}, Topics: hub.Topics{Prefix: "x"}, BatchSize: 10,
		PollInterval: 10 * time.Millisecond, Metrics: metrics, Logger: slog.New(slog.DiscardHandler)}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	defer func() { stop(); <-done }()
	blocked := func() float64 { return testutil.ToFloat64(metrics.PublishBlocked.WithLabelValues("hooks")) }
	deadline := time.Now().Add(10 * time.Second)
	for blocked() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("publish_blocked never rose while the broker refused")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pub.mu.Lock()
	pub.ok = true
	pub.mu.Unlock()
	for blocked() != 0 || testutil.ToFloat64(metrics.Published.WithLabelValues("hooks", hub.EntityCustomer)) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("after the broker came back: blocked %v", blocked())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
