package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// ledger is the fakes' shared view: which batches Kafka acknowledged, which
// positions the hub saved and which the source was told about, and every
// ordering rule broken on the way.
type ledger struct {
	mu         sync.Mutex
	published  int   // batches acknowledged by the fake Kafka
	saved      []int // positions saved, in order
	acked      []int // positions acked, in order
	violations []string
	changed    chan struct{} // poked on every publish and save
}

func newLedger() *ledger { return &ledger{changed: make(chan struct{}, 1)} }

func (l *ledger) poke() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

func (l *ledger) lastSaved() int {
	if len(l.saved) == 0 {
		return 0
	}
	return l.saved[len(l.saved)-1]
}

// until waits for cond (checked under the lock) or fails the test.
func (l *ledger) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		l.mu.Lock()
		ok := cond()
		l.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-l.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// batchSource returns batches of one record, at positions 1..n, then nothing.
type batchSource struct {
	sdk.UnimplementedSource
	l    *ledger
	n    int
	next int
}

func (s *batchSource) Configure(context.Context, sdk.Config) error { return nil }
func (s *batchSource) Open(context.Context, sdk.Position) error    { return nil }
func (s *batchSource) Read(_ context.Context, _ int) ([]sdk.Record, error) {
	if s.next >= s.n {
		return nil, nil
	}
	s.next++
	return []sdk.Record{{Entity: "customers", ID: "W-" + strconv.Itoa(s.next), Op: sdk.OpUpsert,
		Payload: []byte(`{"name":"Ada Muster","phone":"030 1234567"}`), Position: []byte(strconv.Itoa(s.next))}}, nil
}

func (s *batchSource) Ack(_ context.Context, pos sdk.Position) error {
	p, _ := strconv.Atoi(string(pos))
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	if p > s.l.lastSaved() {
		s.l.violations = append(s.l.violations, fmt.Sprintf("ack %d before its position was saved (saved %d)", p, s.l.lastSaved()))
	}
	s.l.acked = append(s.l.acked, p)
	return nil
}

type countingPublisher struct{ l *ledger }

func (p countingPublisher) Publish(_ context.Context, msgs ...bus.Message) error {
	p.l.mu.Lock()
	p.l.published++
	p.l.mu.Unlock()
	p.l.poke()
	return nil
}

// gatedPositions saves positions; while down it fails, and while gate is
// set a save waits for it to close.
type gatedPositions struct {
	l    *ledger
	mu   sync.Mutex
	gate chan struct{}
	down bool
}

func (g *gatedPositions) Position(context.Context, string) ([]byte, error) { return nil, nil }

func (g *gatedPositions) SavePosition(ctx context.Context, _ string, pos []byte) error {
	g.mu.Lock()
	gate, down := g.gate, g.down
	g.mu.Unlock()
	if down {
		return errors.New("store unavailable")
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p, _ := strconv.Atoi(string(pos))
	g.l.mu.Lock()
	defer g.l.mu.Unlock()
	if p > g.l.published {
		g.l.violations = append(g.l.violations, fmt.Sprintf("position %d saved before Kafka acknowledged it (%d published)", p, g.l.published))
	}
	if p <= g.l.lastSaved() {
		g.l.violations = append(g.l.violations, fmt.Sprintf("position %d saved after %d", p, g.l.lastSaved()))
	}
	g.l.saved = append(g.l.saved, p)
	g.l.poke()
	return nil
}

func newTestSource(t *testing.T, l *ledger, pos *gatedPositions, n int) *Source {
	t.Helper()
	m, err := mapping.Parse("hooks_customers.yaml", []byte(hookMapping))
	if err != nil {
		t.Fatal(err)
	}
	return &Source{Name: "hooks", System: "hooks", Source: &batchSource{l: l, n: n}, Mappings: oneMapping{m},
		Publisher: countingPublisher{l}, Positions: pos, Topics: hub.Topics{Prefix: "crmhub"}, BatchSize: 10,
		PollInterval: time.Millisecond, Metrics: NewMetrics(prometheus.NewRegistry()), Logger: slog.New(slog.DiscardHandler)}
}

// While the store holds a save, the runner goes on reading and publishing,
// up to MaxUnsaved batches; the next save covers them all at once; a
// position is saved only after Kafka acknowledged its batch and acked only
// after it was saved.
func TestSourceSavesPositionsOffTheReadLoop(t *testing.T) {
	l := newLedger()
	gate := make(chan struct{})
	pos := &gatedPositions{l: l, gate: gate}
	const batches = 3 * MaxUnsaved
	src := newTestSource(t, l, pos, batches)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()

	l.until(t, "the runner to publish while the first save waits", func() bool { return l.published >= MaxUnsaved })
	// A runner that ignored the bound would publish on; one that respects
	// it cannot, however long this waits.
	time.Sleep(100 * time.Millisecond)
	l.mu.Lock()
	held := l.published
	l.mu.Unlock()
	if held != MaxUnsaved {
		t.Errorf("published %d batches while no position could be saved, want at most MaxUnsaved = %d", held, MaxUnsaved)
	}

	pos.mu.Lock()
	pos.gate = nil
	pos.mu.Unlock()
	close(gate)
	l.until(t, "every position saved", func() bool { return l.lastSaved() == batches })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.violations {
		t.Error(v)
	}
	if len(l.saved) < 2 || l.saved[1] < MaxUnsaved {
		t.Errorf("saved positions %v: the save after the held one should cover every batch published meanwhile (>= %d)", l.saved, MaxUnsaved)
	}
	if len(l.saved) >= batches {
		t.Errorf("saved %d times for %d batches: no save covered several batches", len(l.saved), batches)
	}
	if got := l.acked[len(l.acked)-1]; got != batches {
		t.Errorf("last ack %d, want %d", got, batches)
	}
}

// A store that cannot save does not stop the connector: saving is retried,
// and the newest published position is saved when the runner stops, so a
// restart resumes after every batch Kafka acknowledged.
func TestSourceSavesLastPositionOnTheWayOut(t *testing.T) {
	l := newLedger()
	pos := &gatedPositions{l: l, down: true}
	const batches = 5
	src := newTestSource(t, l, pos, batches)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()

	l.until(t, "every batch published", func() bool { return l.published == batches })
	pos.mu.Lock()
	pos.down = false
	pos.mu.Unlock()
	cancel() // most likely while the saver sleeps before its next try
	if err := <-done; err != nil {
		t.Fatalf("a failing save stopped the connector: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.violations {
		t.Error(v)
	}
	if l.lastSaved() != batches {
		t.Errorf("saved positions %v after stop, want the last published one (%d) saved", l.saved, batches)
	}
}
