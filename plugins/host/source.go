package host

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/crmhub/crmhub/plugins/internal/hostside"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// Source starts a supervised source for one configured instance of
// connector. The plugin process starts now, so a tampered binary or a plugin
// of the wrong protocol version is reported here. The returned Source
// restarts a crashed plugin with exponential backoff and jitter,
// re-Configures it and re-Opens it at the last acked position; after
// MaxRestarts consecutive failures it returns an error wrapping ErrFailed.
func (h *Host) Source(ctx context.Context, instance, connector string) (sdk.Source, error) {
	e, err := h.entry(connector)
	if err != nil {
		return nil, err
	}
	if !hasKind(e.spec, sdk.KindSource) || (e.builtin != nil && e.builtin.NewSource == nil) {
		return nil, fmt.Errorf("connector %s is not a source", connector)
	}
	in, err := h.newInstance(instance, e, hostside.PluginSource)
	if err != nil {
		return nil, err
	}
	return &source{in}, nil
}

func hasKind(s sdk.Spec, k sdk.Kind) bool {
	return len(s.Kinds) == 0 || slices.Contains(s.Kinds, k)
}

type source struct{ *instance }

var _ sdk.Source = (*source)(nil)

// Configure validates cfg against the declaration (every problem at once)
// before the connector sees it, and keeps it for restarts.
func (s *source) Configure(ctx context.Context, cfg sdk.Config) error {
	valid, err := s.e.spec.ValidateFor(sdk.KindSource, cfg)
	if err != nil {
		return fmt.Errorf("configure %s: %w", s.name, err)
	}
	s.mu.Lock()
	s.cfg, s.configured = valid, true
	s.mu.Unlock()
	if err := s.call(ctx, replayed, func(raw any) error { return raw.(sdk.Source).Configure(ctx, valid) }); err != nil {
		return fmt.Errorf("configure %s: %w", s.name, err)
	}
	return nil
}

func (s *source) Open(ctx context.Context, pos sdk.Position) error {
	s.mu.Lock()
	s.pos, s.opened = clone(pos), true
	s.mu.Unlock()
	if err := s.call(ctx, replayed, func(raw any) error { return raw.(sdk.Source).Open(ctx, pos) }); err != nil {
		return fmt.Errorf("open %s: %w", s.name, err)
	}
	s.mu.Lock()
	s.openDone = true
	s.mu.Unlock()
	return nil
}

func (s *source) Read(ctx context.Context, max int) ([]sdk.Record, error) {
	var recs []sdk.Record
	err := s.call(ctx, rerun, func(raw any) error {
		start := time.Now()
		var err error
		recs, err = raw.(sdk.Source).Read(ctx, max)
		s.m.readDuration.Observe(time.Since(start).Seconds())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.name, err)
	}
	s.noteSuccess()
	if len(recs) > 0 {
		n := 0
		for i := range recs {
			n += len(recs[i].Payload)
		}
		s.m.recordsRead.Add(float64(len(recs)))
		s.m.bytesRead.Add(float64(n))
		s.m.batches.Inc()
	}
	return recs, nil
}

// Ack records pos as the restart point and passes it on. When the process
// is gone the position is still recorded: the restarted plugin opens there.
func (s *source) Ack(ctx context.Context, pos sdk.Position) error {
	s.mu.Lock()
	s.pos = clone(pos)
	p, state := s.p, s.state
	s.mu.Unlock()
	if state != StateRunning {
		return nil
	}
	err := p.raw.(sdk.Source).Ack(ctx, pos)
	if err != nil && !p.exited() && ctx.Err() == nil && !isTransport(err) {
		return fmt.Errorf("ack %s: %w", s.name, err)
	}
	return nil
}

func (s *source) Teardown(ctx context.Context) error { return s.stop(ctx) }

func clone(p sdk.Position) sdk.Position {
	if p == nil {
		return nil
	}
	return append(sdk.Position{}, p...)
}
