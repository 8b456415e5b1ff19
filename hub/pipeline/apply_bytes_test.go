package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/hub/pipeline"
)

// backlogConsumer hands out a fixed backlog, max messages per Fetch, and
// records what is committed.
type backlogConsumer struct {
	mu        sync.Mutex
	backlog   []bus.Message
	fetched   int
	committed []bus.Message
}

func (c *backlogConsumer) Fetch(ctx context.Context, max int, _ time.Duration) ([]bus.Message, error) {
	c.mu.Lock()
	if len(c.backlog) == 0 {
		c.mu.Unlock()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	n := min(max, len(c.backlog))
	out := append([]bus.Message(nil), c.backlog[:n]...)
	c.backlog = c.backlog[n:]
	c.fetched += n
	c.mu.Unlock()
	return out, nil
}

func (c *backlogConsumer) Commit(_ context.Context, msgs []bus.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.committed = append(c.committed, msgs...)
	return nil
}

// slowStore holds its first Apply until release is closed, so the backlog
// queues up behind it, then records each transaction's size.
type slowStore struct {
	release chan struct{}
	mu      sync.Mutex
	sizes   []int
	total   int
}

func (s *slowStore) Apply(_ context.Context, events []hub.Envelope) (hub.ApplyStats, error) {
	<-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sizes = append(s.sizes, len(events))
	s.total += len(events)
	return hub.ApplyStats{Applied: len(events)}, nil
}

func (s *slowStore) Ping(context.Context) error { return nil }

// A backlog is joined into store transactions of at most MaxBatchBytes of
// messages (give or take the last fetch joined), not MaxCoalesce fetches,
// and the messages handed on to be committed no longer hold their values.
func TestApplyBatchBoundedInBytes(t *testing.T) {
	const n, batch, size = 400, 10, 1000
	tests := []struct {
		name     string
		maxBytes int
		wantMax  int // records in the largest transaction, at most
		ahead    int // records fetched while the store holds the first batch, at most
	}{
		// Joins stop once 25 messages' bytes are in; twice that is fetched
		// ahead, plus the fetch that waits for room.
		{"bounded", 25 * size, 30, 50 + batch},
		// MaxCoalesce fetches (plus the one in hand), fetched ahead
		// whatever their bytes.
		{"unbounded", 0, pipeline.MaxCoalesce * batch * 2, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &backlogConsumer{}
			for i := range n {
				e := hub.Envelope{System: "erp", SourceEntity: "customers", SourceID: fmt.Sprintf("K%d", i), Entity: hub.EntityCustomer,
					Op: hub.OpUpsert, EventID: fmt.Sprintf("ev%d", i), Data: json.RawMessage(`{"kind":"person"}`)}
				v, err := json.Marshal(e)
				if err != nil {
					t.Fatal(err)
				}
				// Pad every message to the same size with a field the envelope ignores.
				v = append(v[:len(v)-1], fmt.Sprintf(`,"pad":"%s"}`, strings.Repeat("x", size-len(v)-10))...)
				c.backlog = append(c.backlog, bus.Message{Topic: "t", Offset: int64(i), Key: []byte(e.SourceID), Value: v})
			}
			st := &slowStore{release: make(chan struct{})}
			a := &pipeline.Apply{Consumer: c, Store: st, BatchSize: batch, MaxBatchBytes: tt.maxBytes,
				Metrics: pipeline.NewMetrics(prometheus.NewRegistry()), Logger: slog.New(slog.DiscardHandler)}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			// The fetch loop fills its queue while the store holds the first
			// batch; read how far once it has stopped fetching (a fixed
			// wait failed on a loaded machine, before the loop had run).
			ahead := settled(t, func() int {
				c.mu.Lock()
				defer c.mu.Unlock()
				return c.fetched
			})
			if ahead > tt.ahead {
				t.Errorf("%d records fetched while the store held the first batch, want at most %d", ahead, tt.ahead)
			}
			if tt.maxBytes == 0 && ahead <= tests[0].ahead {
				// Unbounded it settles at 100-170 here, by how the fetches
				// fall; within the bounded case's limit it shows nothing.
				t.Errorf("unbounded: only %d records fetched ahead, within the bounded case's %d: the test no longer shows the bound", ahead, tests[0].ahead)
			}
			close(st.release)
			deadline := time.Now().Add(20 * time.Second)
			for {
				st.mu.Lock()
				total := st.total
				st.mu.Unlock()
				if total == n {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("applied %d of %d", total, n)
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			largest := 0
			for _, s := range st.sizes {
				largest = max(largest, s)
			}
			if largest > tt.wantMax {
				t.Errorf("largest transaction %d records, want at most %d: %v", largest, tt.wantMax, st.sizes)
			}
			if tt.maxBytes == 0 && largest <= 3*batch {
				t.Errorf("largest transaction %d records: the backlog was not joined (%v)", largest, st.sizes)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.committed) != n {
				t.Fatalf("committed %d offsets, want %d", len(c.committed), n)
			}
			for _, m := range c.committed {
				if m.Value != nil || m.Key != nil {
					t.Fatalf("offset %d committed with its message still held (%d bytes)", m.Offset, len(m.Value))
				}
			}
		})
	}
}

// settled polls n until it is above zero and has not moved for 300 ms, and
// returns it: how far a loop got once it blocked.
func settled(t *testing.T, n func() int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last, since := n(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		if v := n(); v != last {
			last, since = v, time.Now()
		} else if v > 0 && time.Since(since) >= 300*time.Millisecond {
			return v
		}
	}
	t.Fatalf("still moving after 20 s: %d", last)
	return 0
}
