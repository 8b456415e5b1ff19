package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/crmhub/crmhub/internal/retry"
	"github.com/crmhub/crmhub/plugins/internal/hostside"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// State is an instance's lifecycle state.
type State string

const (
	StateRunning    State = "running"
	StateRestarting State = "restarting"
	StateFailed     State = "failed"
	StateStopped    State = "stopped"
)

// InstanceHealth is what the health endpoint shows per configured instance.
type InstanceHealth struct {
	Instance  string
	Connector string
	Kind      sdk.Kind
	State     State
	// Restarts counts restart attempts since the instance started.
	Restarts    int
	LastError   string
	LastSuccess time.Time
	// PID of the plugin process; 0 in-process or when not running.
	PID int
}

// instance is one configured connector instance and its process. The
// goroutine calling Configure/Open/Read (or Write) is the only one that
// restarts; Ack from another goroutine only records its position.
type instance struct {
	h    *Host
	name string
	e    *entry
	kind string // hostside.PluginSource or hostside.PluginDestination
	log  *slog.Logger
	m    instMetrics

	mu       sync.Mutex
	p        *proc
	state    State
	failErr  error
	restarts int
	failures int // consecutive
	lastErr  string
	lastOK   time.Time

	cfg        sdk.Config
	configured bool
	opened     bool
	pos        sdk.Position // last acked (or opened-at) position
	// openDone: the first Open returned without error, so calls from other
	// goroutines (reconciliation) cannot race with it.
	openDone bool
}

func (h *Host) newInstance(name string, e *entry, kind string) (*instance, error) {
	in := &instance{
		h: h, name: name, e: e, kind: kind,
		log: h.log.With("connector", name, "plugin", e.spec.Name),
		m:   h.metrics.forInstance(name, e.spec.Name),
	}
	p, err := in.start()
	if err != nil {
		return nil, fmt.Errorf("start %s %s (%s): %w", kind, name, e.spec.Name, err)
	}
	in.p = p
	in.state = StateRunning
	if err := h.register(in); err != nil {
		p.kill()
		return nil, err
	}
	in.m.up.Set(1)
	return in, nil
}

func (in *instance) start() (*proc, error) {
	if in.h.opts.InProcess && in.e.builtin != nil {
		c := in.e.builtin
		switch in.kind {
		case hostside.PluginSource:
			return &proc{raw: c.NewSource()}, nil
		default:
			return &proc{raw: c.NewDestination()}, nil
		}
	}
	return in.h.launch(in.e, in.kind, in.log)
}

func (in *instance) health() InstanceHealth {
	in.mu.Lock()
	defer in.mu.Unlock()
	kind := sdk.KindSource
	if in.kind == hostside.PluginDestination {
		kind = sdk.KindDestination
	}
	pid := 0
	if in.p != nil && in.state == StateRunning {
		pid = in.p.pid
	}
	return InstanceHealth{
		Instance: in.name, Connector: in.e.spec.Name, Kind: kind, State: in.state,
		Restarts: in.restarts, LastError: in.lastErr, LastSuccess: in.lastOK, PID: pid,
	}
}

// after says what call does once a crashed process has been replaced.
type after int

const (
	rerun    after = iota // run the call again on the new process
	replayed              // restart replayed this very call (Configure, Open)
	giveBack              // return the crash to the caller (Write: the caller decides about retrying)
)

// call runs fn on the current process and restarts the process when it
// crashed.
func (in *instance) call(ctx context.Context, mode after, fn func(raw any) error) error {
	for {
		in.mu.Lock()
		p, state, failErr := in.p, in.state, in.failErr
		in.mu.Unlock()
		switch state {
		case StateFailed:
			return failErr
		case StateStopped:
			return fmt.Errorf("%s %s: stopped", in.kind, in.name)
		}
		err := fn(p.raw)
		if err == nil {
			return nil
		}
		in.m.errors.Inc()
		in.noteError(err)
		if ctx.Err() != nil || !(errors.Is(err, sdk.ErrTransport) || p.exited()) {
			return err
		}
		if rerr := in.restart(ctx, p, err); rerr != nil {
			return rerr
		}
		switch mode {
		case replayed:
			return nil
		case giveBack:
			return err
		}
	}
}

// restart replaces a crashed process: backoff, start, Configure and Open
// again at the last acked position.
func (in *instance) restart(ctx context.Context, old *proc, cause error) error {
	old.kill()
	for {
		in.mu.Lock()
		in.failures++
		n := in.failures
		max := in.h.opts.MaxRestarts
		if max < 0 {
			max = 0
		}
		if n > max {
			in.state = StateFailed
			in.failErr = fmt.Errorf("%s %s (%s): gave up after %d consecutive failures, last: %v: %w",
				in.kind, in.name, in.e.spec.Name, n, cause, ErrFailed)
			in.mu.Unlock()
			in.m.up.Set(0)
			in.log.Error("connector failed", "failures", n, "error", cause)
			return in.failErr
		}
		in.state = StateRestarting
		in.restarts++
		in.mu.Unlock()
		in.m.up.Set(0)
		in.m.restarts.Inc()

		d := retry.Delay(in.h.opts.BackoffBase, in.h.opts.BackoffMax, n-1)
		in.log.Warn("plugin crashed, restarting", "attempt", n, "backoff", d, "error", cause)
		if !retry.Sleep(ctx, d) {
			return fmt.Errorf("%s %s: restart: %w", in.kind, in.name, ctx.Err())
		}
		p, err := in.start()
		if err == nil {
			if err = in.replay(ctx, p); err != nil {
				p.kill()
			}
		}
		if err != nil {
			cause = err
			in.noteError(err)
			continue
		}
		in.mu.Lock()
		if in.state == StateStopped {
			// Close ran meanwhile: do not leave the new process behind.
			in.mu.Unlock()
			p.kill()
			return fmt.Errorf("%s %s: stopped", in.kind, in.name)
		}
		in.p = p
		in.state = StateRunning
		in.mu.Unlock()
		in.m.up.Set(1)
		in.log.Info("plugin restarted", "attempt", n)
		return nil
	}
}

// replay brings a fresh process to where the old one was.
func (in *instance) replay(ctx context.Context, p *proc) error {
	in.mu.Lock()
	cfg, configured, opened, pos := in.cfg, in.configured, in.opened, in.pos
	in.mu.Unlock()
	switch raw := p.raw.(type) {
	case sdk.Source:
		if configured {
			if err := raw.Configure(ctx, cfg); err != nil {
				return fmt.Errorf("configure: %w", err)
			}
		}
		if opened {
			if err := raw.Open(ctx, pos); err != nil {
				return fmt.Errorf("open at acked position: %w", err)
			}
		}
	case sdk.Destination:
		if configured {
			if err := raw.Configure(ctx, cfg); err != nil {
				return fmt.Errorf("configure: %w", err)
			}
		}
		if opened {
			if err := raw.Open(ctx); err != nil {
				return fmt.Errorf("open: %w", err)
			}
		}
	}
	return nil
}

func (in *instance) noteError(err error) {
	in.mu.Lock()
	in.lastErr = err.Error()
	in.mu.Unlock()
}

func (in *instance) noteSuccess() {
	now := time.Now()
	in.mu.Lock()
	in.failures = 0
	in.lastOK = now
	in.mu.Unlock()
	in.m.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
}

// stop tears the connector down and ends its process. Safe to call twice.
func (in *instance) stop(ctx context.Context) error {
	in.mu.Lock()
	p, state := in.p, in.state
	in.state = StateStopped
	in.mu.Unlock()
	in.m.up.Set(0)
	if state == StateStopped || p == nil {
		return nil
	}
	var err error
	if state == StateRunning && !p.exited() {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		switch raw := p.raw.(type) {
		case sdk.Source:
			err = raw.Teardown(tctx)
		case sdk.Destination:
			err = raw.Teardown(tctx)
		}
		cancel()
		if errors.Is(err, sdk.ErrTransport) {
			err = nil
		}
	}
	// Kill asks the plugin to shut down and kills it after a grace period.
	p.kill()
	if err != nil {
		return fmt.Errorf("teardown %s %s: %w", in.kind, in.name, err)
	}
	return nil
}
