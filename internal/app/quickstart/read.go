package quickstart

import (
	"context"
	"fmt"

	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// ReadSources runs every connector of cfg in-process until it has nothing
// new (three empty reads in a row), acking each batch, and hands each record
// to each. Tests use it to see exactly what the quickstart's connectors
// produce from generated systems, without Kafka or a store in between.
func ReadSources(ctx context.Context, cfg *config.Config, each func(c config.Connector, r sdk.Record)) error {
	builtins := connectors.Builtins()
	for _, c := range cfg.Connectors {
		conn, ok := builtins[c.Plugin]
		if !ok || conn.NewSource == nil {
			return fmt.Errorf("connector %s: plugin %q is not a built-in source", c.Name, c.Plugin)
		}
		settings := sdk.Config{}
		for k, v := range c.Settings {
			settings[k] = v
		}
		if c.Plugin == "file" {
			settings["stable_for"] = "0s" // generated files are complete
		}
		settings, err := conn.Spec.Validate(settings)
		if err != nil {
			return fmt.Errorf("connector %s: %w", c.Name, err)
		}
		if err := readSource(ctx, c, conn.NewSource(), settings, each); err != nil {
			return err
		}
	}
	return nil
}

func readSource(ctx context.Context, c config.Connector, src sdk.Source, settings sdk.Config, each func(config.Connector, sdk.Record)) (err error) {
	defer func() {
		if terr := src.Teardown(ctx); terr != nil && err == nil {
			err = fmt.Errorf("connector %s: teardown: %w", c.Name, terr)
		}
	}()
	if err := src.Configure(ctx, settings); err != nil {
		return fmt.Errorf("connector %s: configure: %w", c.Name, err)
	}
	if err := src.Open(ctx, nil); err != nil {
		return fmt.Errorf("connector %s: open: %w", c.Name, err)
	}
	for empty := 0; empty < 3; {
		recs, err := src.Read(ctx, 500)
		if err != nil {
			return fmt.Errorf("connector %s: read: %w", c.Name, err)
		}
		if len(recs) == 0 {
			empty++
			continue
		}
		empty = 0
		for _, r := range recs {
			each(c, r)
		}
		if err := src.Ack(ctx, recs[len(recs)-1].Position); err != nil {
			return fmt.Errorf("connector %s: ack: %w", c.Name, err)
		}
	}
	return nil
}
