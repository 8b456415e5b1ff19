package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

var (
	_ sdk.Reconciler        = (*source)(nil)
	_ sdk.VersionReconciler = (*source)(nil)
)

// ErrNotOpen: a reconciliation call came before the source was opened.
var ErrNotOpen = errors.New("source not open yet")

// Count passes through to the plugin. It runs beside Read from another
// goroutine, so like Ack it never restarts a crashed process (the reading
// goroutine does that): while the plugin is down the answer is an error
// wrapping sdk.ErrTransport, and the reconciler tries again next round.
func (s *source) Count(ctx context.Context, entity string) (int64, error) {
	var n int64
	err := s.passThrough(ctx, "count", func(r sdk.Source) (err error) {
		n, err = sdk.CountOf(ctx, r, entity)
		return err
	})
	return n, err
}

// Keys passes through to the plugin; see Count.
func (s *source) Keys(ctx context.Context, entity, after string, limit int) ([]string, error) {
	var keys []string
	err := s.passThrough(ctx, "keys", func(r sdk.Source) (err error) {
		keys, err = sdk.KeysOf(ctx, r, entity, after, limit)
		return err
	})
	return keys, err
}

// VersionsBehind passes through to the plugin (or an in-process source);
// a plugin built before the call existed answers sdk.ErrNotSupported; see
// Count.
func (s *source) VersionsBehind(ctx context.Context, entity, after string, limit int) (ids []string, versions []time.Time, last string, err error) {
	err = s.passThrough(ctx, "versions", func(r sdk.Source) (err error) {
		v, ok := r.(sdk.VersionReconciler)
		if !ok {
			return sdk.ErrNotSupported
		}
		ids, versions, last, err = v.VersionsBehind(ctx, entity, after, limit)
		return err
	})
	return ids, versions, last, err
}

// Reread passes through like VersionsBehind.
func (s *source) Reread(ctx context.Context, entity string, ids []string) error {
	return s.passThrough(ctx, "reread", func(r sdk.Source) error {
		v, ok := r.(sdk.VersionReconciler)
		if !ok {
			return sdk.ErrNotSupported
		}
		return v.Reread(ctx, entity, ids)
	})
}

func (s *source) passThrough(ctx context.Context, call string, fn func(sdk.Source) error) error {
	s.mu.Lock()
	p, state, failErr, open := s.p, s.state, s.failErr, s.openDone
	s.mu.Unlock()
	if !open && state == StateRunning {
		return fmt.Errorf("%s %s: %w", call, s.name, ErrNotOpen)
	}
	switch state {
	case StateRunning:
	case StateFailed:
		return fmt.Errorf("%s %s: %w", call, s.name, failErr)
	default:
		return fmt.Errorf("%s %s: plugin %s: %w", call, s.name, state, sdk.ErrTransport)
	}
	if err := fn(p.raw.(sdk.Source)); err != nil {
		return fmt.Errorf("%s %s: %w", call, s.name, err)
	}
	return nil
}
