package quickstart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/plugins/sdk"
)

// Customers are the customer records of generated systems as the
// quickstart's connectors and mappings deliver them to the hub, and the
// identity configuration the quickstart resolves them with.
type Customers struct {
	Records  []identity.Record
	Identity identity.Config
}

// ReadCustomers reads the systems generated into dir through the
// quickstart's connectors (in-process, the simulated APIs on a loopback
// port) and mappings, without Kafka or a store: what identity resolution
// gets to see. The identity-quality tests score resolvers on it in seconds
// where a full `crmhub bench sync` takes minutes. Deletes, broken records
// and records of other entities are left out. dir is left as it was (the
// finance files are read from a copy), so it can be read again.
func ReadCustomers(ctx context.Context, dir string) (*Customers, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	qs, err := os.MkdirTemp("", "crmhub-quickstart")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(qs)
	cfgPath, err := Write(qs)
	if err != nil {
		return nil, err
	}
	apiURL, stopAPI, err := ServeAPIs(dir)
	if err != nil {
		return nil, err
	}
	defer stopAPI()

	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	env := map[string]string{
		"CRMHUB_DATA_DIR": filepath.Join(qs, "hub"), "CRMHUB_DEMO_DIR": dir,
		"CRMHUB_DEMO_CRM_URL": apiURL, "CRMHUB_DEMO_SERVICEDESK_URL": apiURL,
	}
	cfg, err := config.Parse(cfgPath, b, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return nil, fmt.Errorf("quickstart config: %w", err)
	}
	// The file connector archives what it read: it reads a copy, so the
	// generated systems stay as they are and can be read again.
	for i, c := range cfg.Connectors {
		if d, ok := c.Settings["dir"].(string); ok && c.Plugin == "file" {
			cp := filepath.Join(qs, "files", c.Name)
			if err := os.CopyFS(cp, os.DirFS(d)); err != nil {
				return nil, fmt.Errorf("copy %s: %w", d, err)
			}
			cfg.Connectors[i].Settings["dir"] = cp
		}
	}
	set, err := mapping.LoadDir(cfg.Mappings.Dir)
	if err != nil {
		return nil, fmt.Errorf("quickstart mappings: %w", err)
	}
	idc, err := cfg.Identity.Resolver()
	if err != nil {
		return nil, err
	}
	out := &Customers{Identity: idc}
	var mapErr error
	err = ReadSources(ctx, cfg, func(c config.Connector, r sdk.Record) {
		if r.Error != "" || mapErr != nil {
			return
		}
		m, ok := set.Lookup(c.System, r.Entity)
		if !ok {
			return
		}
		if target, _ := m.Target(); target != hub.EntityCustomer {
			return
		}
		res, err := m.Apply(mapping.Input{System: c.System, Entity: r.Entity, SourceID: r.ID, UpdatedAt: r.UpdatedAt, Op: string(r.Op), Payload: r.Payload})
		var recErr *mapping.RecordError
		switch {
		case errors.As(err, &recErr):
			return // broken on purpose: the hub dead-letters it
		case err != nil:
			mapErr = fmt.Errorf("%s/%s/%s: %w", c.System, r.Entity, r.ID, err)
			return
		case res.Skip || res.Op == hub.OpDelete:
			return
		}
		rec := identity.Record{System: c.System, SourceEntity: r.Entity, SourceID: r.ID, UpdatedAt: r.UpdatedAt}
		if err := json.Unmarshal(res.Data, &rec.Customer); err != nil {
			mapErr = fmt.Errorf("%s/%s/%s: mapped customer: %w", c.System, r.Entity, r.ID, err)
			return
		}
		out.Records = append(out.Records, rec)
	})
	if err != nil {
		return nil, err
	}
	if mapErr != nil {
		return nil, mapErr
	}
	return out, nil
}
