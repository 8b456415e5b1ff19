package config

import (
	"fmt"

	"github.com/crmhub/crmhub/hub/identity"
)

// Resolver is the resolver's configuration from the config file's
// identity section, with the person model's parameter file read.
func (c Identity) Resolver() (identity.Config, error) {
	out := identity.Config{DefaultRegion: c.DefaultRegion, FieldPriority: c.FieldPriority, FieldRule: c.FieldRule,
		TaxIDVeto: c.TaxIDVeto}
	if c.Fuzzy.Enabled {
		out.Fuzzy = &identity.FuzzyConfig{AutoMerge: c.Fuzzy.AutoMerge, Review: c.Fuzzy.Review,
			NameWeight: c.Fuzzy.NameWeight, AddressWeight: c.Fuzzy.AddressWeight, MaxBlock: c.Fuzzy.MaxBlock,
			Method: c.Fuzzy.Method}
		p := identity.DefaultParams()
		if c.Fuzzy.People.Params != "" {
			var err error
			if p, err = identity.LoadParams(c.Fuzzy.People.Params); err != nil {
				return out, fmt.Errorf("identity.fuzzy.people.params: %w", err)
			}
		}
		if c.Fuzzy.People.AutoMerge != 0 {
			p.AutoMerge = c.Fuzzy.People.AutoMerge
		}
		if c.Fuzzy.People.Review != 0 {
			p.Review = c.Fuzzy.People.Review
		}
		out.Fuzzy.People = p
	}
	return out, nil
}
