package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// health probes the brokers: on every Ping (/readyz) and every
// HealthInterval in the background, so crmhub_bus_up is true even when no
// probe asks for readiness.
type health struct {
	// down is set while the last probe failed; transitions are logged once.
	down   atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// start runs the background probe until stop.
func (h *health) start(b *Bus) {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		t := time.NewTicker(b.cfg.HealthInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			_ = b.Ping(ctx)
		}
	}()
}

// stop ends the background probe and waits for it.
func (h *health) stop() {
	h.once.Do(func() {
		if h.cancel != nil {
			h.cancel()
			<-h.done
		}
	})
}

// observe records a probe's outcome in crmhub_bus_up and logs when the
// brokers go away or come back (each once, not per probe).
func (b *Bus) observe(err error) {
	if err != nil && errors.Is(err, context.Canceled) {
		return // the caller gave up (the bus closing), not the brokers
	}
	if err == nil {
		b.metrics.up.Set(1)
		if b.health.down.Swap(false) {
			b.log.Info("kafka brokers answer again")
		}
		return
	}
	b.metrics.up.Set(0)
	if !b.health.down.Swap(true) {
		b.log.Warn("kafka brokers unreachable; publishing and consuming wait and retry, nothing is dead-lettered", "err", err)
	}
}

// Ping checks that the brokers answer (for /readyz and crmhub_bus_up): a
// metadata request on a new connection to each bootstrap broker until one
// answers. Not through the shared client: kafka-go answers its metadata
// requests from the transport's cache and keeps the last cluster layout it
// knew when a refresh fails, so with every broker gone it still said yes.
func (b *Bus) Ping(ctx context.Context) error {
	if b.isClosed() {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := b.probe(ctx)
	b.observe(err)
	return err
}

func (b *Bus) probe(ctx context.Context) error {
	var errs []error
	for _, addr := range b.brokers {
		err := b.probeBroker(ctx, addr)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
		return ctx.Err()
	}
	if aerr := b.diagnoseAuth(ctx); aerr != nil {
		return aerr
	}
	err := b.brokerErr("metadata", errors.Join(errs...))
	if !errors.Is(err, ErrAuth) {
		err = fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return err
}

// probeBroker dials addr (TLS and SASL as configured) and asks it for the
// cluster's brokers.
func (b *Bus) probeBroker(ctx context.Context, addr string) error {
	conn, err := b.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(d); err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
	}
	brokers, err := conn.Brokers()
	if err != nil {
		return fmt.Errorf("metadata from %s: %w", addr, err)
	}
	if len(brokers) == 0 {
		return fmt.Errorf("metadata from %s lists no brokers", addr)
	}
	return nil
}
