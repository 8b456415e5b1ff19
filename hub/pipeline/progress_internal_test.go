package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/bus"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

var errGone = errors.New("plugin gone for good")

// dyingSource reads one batch, then reads slowly for a while, then fails
// for good.
type dyingSource struct{ reads int }

func (d *dyingSource) Configure(context.Context, sdk.Config) error { return nil }
func (d *dyingSource) Open(context.Context, sdk.Position) error    { return nil }
func (d *dyingSource) Ack(context.Context, sdk.Position) error     { return nil }
func (d *dyingSource) Teardown(context.Context) error              { return nil }
func (d *dyingSource) Read(ctx context.Context, _ int) ([]sdk.Record, error) {
	d.reads++
	switch {
	case d.reads == 1:
		var recs []sdk.Record
		for i := range 5 {
			recs = append(recs, sdk.Record{Entity: "customers", ID: fmt.Sprint(i), Op: sdk.OpUpsert,
				Payload: []byte(`{"name":"x"}`), Position: sdk.Position(fmt.Sprint(i))})
		}
		return recs, nil
	case d.reads < 4:
		time.Sleep(60 * time.Millisecond) // a slow query: lines go on with rate 0
		return []sdk.Record{{Entity: "customers", ID: "9", Op: sdk.OpUpsert, Payload: []byte(`{"name":"y"}`), Position: sdk.Position("9")}}, nil
	}
	return nil, errGone
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, ...bus.Message) error { return nil }

type memPositions struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (p *memPositions) Position(_ context.Context, c string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[c], nil
}

func (p *memPositions) SavePosition(_ context.Context, c string, pos []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[c] = pos
	return nil
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// A run that ends on a permanent error stops its progress lines (the
// server's context lives on), and the status keeps the error.
func TestProgressStopsWhenTheRunEnds(t *testing.T) {
	m, err := mapping.Parse("hooks_customers.yaml", []byte(hookMapping))
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuf
	metrics := NewMetrics(prometheus.NewRegistry())
	metrics.Progress.Interval = 20 * time.Millisecond
	src := &Source{Name: "hooks", System: "hooks", Source: &dyingSource{}, Mappings: oneMapping{m},
		Publisher: nopPublisher{}, Positions: &memPositions{m: map[string][]byte{}}, Topics: hub.Topics{Prefix: "crmhub"},
		BatchSize: 10, PollInterval: time.Millisecond, Metrics: metrics, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		IsPermanent: func(err error) bool { return errors.Is(err, errGone) }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := src.Run(ctx); !errors.Is(err, ErrPermanent) {
		t.Fatalf("run: %v", err)
	}
	n := logs.count(`msg="snapshot progress"`)
	if n == 0 {
		t.Fatalf("no progress line while reading slowly:\n%s", logs.b.String())
	}
	time.Sleep(100 * time.Millisecond)
	if after := logs.count(`msg="snapshot progress"`); after != n {
		t.Errorf("%d progress lines after the run ended, want none", after-n)
	}
	st := metrics.Progress.Snapshot(metrics)
	if len(st) != 1 || st[0].Read != 7 || st[0].Mapped != 7 || !strings.Contains(st[0].LastError, "gone for good") || st[0].CaughtUp {
		t.Errorf("status %+v", st)
	}
}
