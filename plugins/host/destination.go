package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/crmhub/crmhub/plugins/internal/hostside"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// Destination starts a supervised destination for one configured instance.
// A crash during Write restarts the plugin and returns an error wrapping
// sdk.ErrTransport: the batch failed as a whole and the caller may retry it.
func (h *Host) Destination(ctx context.Context, instance, connector string) (sdk.Destination, error) {
	e, err := h.entry(connector)
	if err != nil {
		return nil, err
	}
	if !hasKind(e.spec, sdk.KindDestination) || (e.builtin != nil && e.builtin.NewDestination == nil) {
		return nil, fmt.Errorf("connector %s is not a destination", connector)
	}
	in, err := h.newInstance(instance, e, hostside.PluginDestination)
	if err != nil {
		return nil, err
	}
	return &destination{in}, nil
}

type destination struct{ *instance }

var _ sdk.Destination = (*destination)(nil)

func (d *destination) Configure(ctx context.Context, cfg sdk.Config) error {
	valid, err := d.e.spec.ValidateFor(sdk.KindDestination, cfg)
	if err != nil {
		return fmt.Errorf("configure %s: %w", d.name, err)
	}
	d.mu.Lock()
	d.cfg, d.configured = valid, true
	d.mu.Unlock()
	if err := d.call(ctx, replayed, func(raw any) error { return raw.(sdk.Destination).Configure(ctx, valid) }); err != nil {
		return fmt.Errorf("configure %s: %w", d.name, err)
	}
	return nil
}

func (d *destination) Open(ctx context.Context) error {
	d.mu.Lock()
	d.opened = true
	d.mu.Unlock()
	if err := d.call(ctx, replayed, func(raw any) error { return raw.(sdk.Destination).Open(ctx) }); err != nil {
		return fmt.Errorf("open %s: %w", d.name, err)
	}
	return nil
}

func (d *destination) Write(ctx context.Context, records []sdk.Record) ([]sdk.WriteResult, error) {
	var res []sdk.WriteResult
	err := d.call(ctx, giveBack, func(raw any) error {
		var err error
		res, err = raw.(sdk.Destination).Write(ctx, records)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", d.name, err)
	}
	d.noteSuccess()
	d.m.recordsWritten.Add(float64(len(records)))
	if len(records) > 0 {
		d.m.batches.Inc()
	}
	return res, nil
}

func (d *destination) Teardown(ctx context.Context) error { return d.stop(ctx) }

func isTransport(err error) bool { return errors.Is(err, sdk.ErrTransport) }
