package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// seqSource serves records 1..n over a few keys, each key's versions in
// increasing order, with payloads of padding bytes; it notes what Read was
// asked for.
type seqSource struct {
	sdk.UnimplementedSource
	n, keys, padding int
	next             int
	mu               sync.Mutex
	asked            []int
}

func (s *seqSource) Configure(context.Context, sdk.Config) error { return nil }
func (s *seqSource) Open(context.Context, sdk.Position) error    { return nil }
func (s *seqSource) Read(_ context.Context, max int) ([]sdk.Record, error) {
	s.mu.Lock()
	s.asked = append(s.asked, max)
	s.mu.Unlock()
	var out []sdk.Record
	for ; s.next < s.n && len(out) < max; s.next++ {
		i := s.next + 1
		out = append(out, sdk.Record{Entity: "customers", ID: "K-" + strconv.Itoa(i%s.keys), Op: sdk.OpUpsert,
			Payload:  []byte(fmt.Sprintf(`{"name":"v%d","pad":%q}`, i, strings.Repeat("x", s.padding))),
			Position: []byte(strconv.Itoa(i))})
	}
	return out, nil
}

// orderPublisher keeps every message in the order Kafka took them and
// stops the run once all arrived.
type orderPublisher struct {
	mu   sync.Mutex
	msgs []bus.Message
	want int
	done context.CancelFunc
}

func (p *orderPublisher) Publish(_ context.Context, msgs ...bus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, msgs...)
	if len(p.msgs) >= p.want {
		p.done()
	}
	return nil
}

type lastPosition struct {
	mu  sync.Mutex
	pos sdk.Position
}

func (m *lastPosition) Position(context.Context, string) ([]byte, error) { return nil, nil }
func (m *lastPosition) SavePosition(_ context.Context, _ string, pos []byte) error {
	m.mu.Lock()
	m.pos = pos
	m.mu.Unlock()
	return nil
}

// seqMapping maps seqSource's records.
func seqMapping(t *testing.T) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Parse("seq.yaml", []byte(`mapping: seq
version: 1
source: {system: seq, entity: customers}
target: {entity: customer, schema: v1}
unknown_fields: ignore
fields:
  kind: '"person"'
  full_name: trim(name)
`))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPipelineKeepsReadOrder maps batches on several goroutines and
// requires the messages in exactly the order read (so each key's versions
// stay in order), the last position saved on the way out, and batches
// bounded by MaxBatchBytes.
func TestPipelineKeepsReadOrder(t *testing.T) {
	m := seqMapping(t)
	tests := []struct {
		name                     string
		n, batch, padding, bytes int
		wantMaxAsk               int
	}{
		{"batches by count", 5000, 700, 10, 0, 700},
		{"batches by bytes", 3000, 1000, 1000, 20 << 10, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := &seqSource{n: tt.n, keys: 7, padding: tt.padding}
			pub := &orderPublisher{want: tt.n, done: cancel}
			pos := &lastPosition{}
			r := &Source{Name: "seq", System: "seq", Source: src, Mappings: oneMapping{m}, Publisher: pub, Positions: pos,
				Topics: hub.Topics{Prefix: "crmhub"}, BatchSize: tt.batch, MaxBatchBytes: tt.bytes, MapWorkers: 4,
				Metrics: NewMetrics(prometheus.NewRegistry()), Logger: slog.New(slog.DiscardHandler)}
			if err := r.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if len(pub.msgs) != tt.n {
				t.Fatalf("%d messages, want %d", len(pub.msgs), tt.n)
			}
			for i, msg := range pub.msgs {
				if want := fmt.Sprintf(`"full_name":"v%d"`, i+1); !strings.Contains(string(msg.Value), want) {
					t.Fatalf("message %d is %s, want record %d (read order)", i, msg.Value, i+1)
				}
			}
			if string(pos.pos) != strconv.Itoa(tt.n) {
				t.Errorf("saved position %q, want the last record's %d", pos.pos, tt.n)
			}
			for i, a := range src.asked[1:] {
				if a > tt.wantMaxAsk {
					t.Errorf("read %d asked for %d records, want at most %d", i+2, a, tt.wantMaxAsk)
				}
			}
		})
	}
}

// TestPipelineFirstBatchIsSmall: the first read asks for firstBatchSize
// records so that the first record reaches the topic soon, the reads after
// it for full batches.
func TestPipelineFirstBatchIsSmall(t *testing.T) {
	m := seqMapping(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n, batch = 3000, 1000
	src := &seqSource{n: n, keys: 7, padding: 10}
	pub := &orderPublisher{want: n, done: cancel}
	r := &Source{Name: "seq", System: "seq", Source: src, Mappings: oneMapping{m}, Publisher: pub, Positions: &lastPosition{},
		Topics: hub.Topics{Prefix: "crmhub"}, BatchSize: batch, MapWorkers: 2,
		Metrics: NewMetrics(prometheus.NewRegistry()), Logger: slog.New(slog.DiscardHandler)}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(pub.msgs) != n {
		t.Fatalf("%d messages, want %d", len(pub.msgs), n)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.asked) < 2 || src.asked[0] != firstBatchSize || src.asked[1] != batch {
		t.Errorf("reads asked for %v, want %d first and then %d", src.asked, firstBatchSize, batch)
	}
}
