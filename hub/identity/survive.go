package identity

import (
	"bytes"
	"slices"
	"sort"
	"time"

	"github.com/crmhub/crmhub/hub"
)

// Survivorship rules, as recorded in lineage.
const (
	RulePriority   = "source_priority" // a configured system won
	RuleMostRecent = "most_recent"     // the most recently updated non-empty value
	RuleUnion      = "union"           // multi-valued: all sources, de-duplicated
	RuleEarliest   = "earliest"        // the oldest record's non-empty value; created_at: the earliest
	RuleComplete   = "most_complete"   // the longest non-empty value
)

// FieldSource says where one golden field came from.
type FieldSource = hub.FieldLineage

// Lineage maps each golden field (JSON name) to its origin.
type Lineage = map[string]hub.FieldLineage

// scalar is one single-valued field: how to see whether a record has it
// and how to copy it into the golden record.
type scalar struct {
	name  string
	has   func(c *hub.Customer) bool
	copyf func(dst, src *hub.Customer)
	size  func(c *hub.Customer) int // for most_complete; nil counts 1
}

func str(name string, f func(c *hub.Customer) *string) scalar {
	return scalar{
		name:  name,
		has:   func(c *hub.Customer) bool { return *f(c) != "" },
		copyf: func(dst, src *hub.Customer) { *f(dst) = *f(src) },
		size:  func(c *hub.Customer) int { return len([]rune(*f(c))) },
	}
}

var scalars = []scalar{
	str("given_name", func(c *hub.Customer) *string { return &c.GivenName }),
	str("family_name", func(c *hub.Customer) *string { return &c.FamilyName }),
	str("full_name", func(c *hub.Customer) *string { return &c.FullName }),
	str("organization_name", func(c *hub.Customer) *string { return &c.OrganizationName }),
	str("tax_id", func(c *hub.Customer) *string { return &c.TaxID }),
	str("language", func(c *hub.Customer) *string { return &c.Language }),
	str("status", func(c *hub.Customer) *string { return &c.Status }),
	str("segment", func(c *hub.Customer) *string { return &c.Segment }),
	str("account_manager", func(c *hub.Customer) *string { return &c.AccountManager }),
	{
		name:  "credit_limit",
		has:   func(c *hub.Customer) bool { return c.CreditLimit != nil },
		copyf: func(dst, src *hub.Customer) { m := *src.CreditLimit; dst.CreditLimit = &m },
	},
	{
		name: "consent",
		has:  func(c *hub.Customer) bool { return len(c.Consent) > 0 },
		size: func(c *hub.Customer) int { return len(c.Consent) },
		copyf: func(dst, src *hub.Customer) {
			dst.Consent = make(map[string]bool, len(src.Consent))
			for k, v := range src.Consent {
				dst.Consent[k] = v
			}
		},
	},
	{
		name:  "custom",
		has:   func(c *hub.Customer) bool { return len(c.Custom) > 0 && !bytes.Equal(c.Custom, []byte("null")) },
		copyf: func(dst, src *hub.Customer) { dst.Custom = slices.Clone(src.Custom) },
	},
}

// byRecency orders records most recent first; ties go to the smaller key,
// so the order is a function of the set.
func byRecency(recs []Record) []Record {
	out := slices.Clone(recs)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].UpdatedAt.Equal(out[j].UpdatedAt) {
			return out[i].UpdatedAt.After(out[j].UpdatedAt)
		}
		return out[i].Key() < out[j].Key()
	})
	return out
}

// Survive computes the golden customer of a cluster and its lineage.
func (r *Resolver) Survive(recs []Record) (hub.Customer, Lineage) {
	var g hub.Customer
	lin := Lineage{}
	if len(recs) == 0 {
		return g, lin
	}
	ordered := byRecency(recs)
	g.Kind = ordered[0].Customer.Kind

	for _, f := range scalars {
		if rec, rule, ok := r.pick(f, ordered); ok {
			f.copyf(&g, &rec.Customer)
			lin[f.name] = FieldSource{Rule: rule, Source: rec.Key()}
		}
	}

	// Multi-valued fields: union in recency order, de-duplicated on the
	// normalized value, keeping the first spelling seen.
	var emailSrc, phoneSrc, addrSrc, xSrc []string
	seen := map[string]bool{}
	for _, rec := range ordered {
		c := rec.Customer
		for _, e := range c.Emails {
			if e == "" {
				continue
			}
			emailSrc = appendOnce(emailSrc, rec.Key())
			if k := "e" + NormalizeEmail(e); !seen[k] {
				seen[k] = true
				g.Emails = append(g.Emails, NormalizeEmail(e))
			}
		}
		for _, p := range c.Phones {
			n, err := NormalizePhone(p, r.cfg.DefaultRegion)
			if err != nil {
				n = p
			}
			if n == "" {
				continue
			}
			phoneSrc = appendOnce(phoneSrc, rec.Key())
			if k := "p" + n; !seen[k] {
				seen[k] = true
				g.Phones = append(g.Phones, n)
			}
		}
		for _, a := range c.Addresses {
			k := "a" + NormalizeName(a.Type+"|"+a.Street+"|"+a.Street2+"|"+a.PostalCode+"|"+a.City+"|"+a.Region+"|"+a.Country)
			addrSrc = appendOnce(addrSrc, rec.Key())
			if !seen[k] {
				seen[k] = true
				g.Addresses = append(g.Addresses, a)
			}
		}
		for _, x := range append([]hub.Ref{{System: rec.System, ID: rec.SourceID}}, c.ExternalIDs...) {
			xSrc = appendOnce(xSrc, rec.Key())
			if k := "x" + x.System + "\x00" + x.ID; !seen[k] {
				seen[k] = true
				g.ExternalIDs = append(g.ExternalIDs, x)
			}
		}
	}
	for name, src := range map[string][]string{"emails": emailSrc, "phones": phoneSrc, "addresses": addrSrc, "external_ids": xSrc} {
		if len(src) > 0 {
			sort.Strings(src)
			lin[name] = FieldSource{Rule: RuleUnion, Sources: src}
		}
	}
	sort.Slice(g.ExternalIDs, func(i, j int) bool {
		a, b := g.ExternalIDs[i], g.ExternalIDs[j]
		return a.System < b.System || a.System == b.System && a.ID < b.ID
	})

	// Timestamps: created is the earliest any source knew the customer,
	// updated the latest change of any source.
	for _, rec := range ordered {
		if t := rec.Customer.CreatedAt; t != nil && (g.CreatedAt == nil || t.Before(*g.CreatedAt)) {
			tt := t.UTC()
			g.CreatedAt = &tt
			lin["created_at"] = FieldSource{Rule: RuleEarliest, Source: rec.Key()}
		}
	}
	if t := latest(ordered[0]); !t.IsZero() {
		t = t.UTC()
		g.UpdatedAt = &t
		lin["updated_at"] = FieldSource{Rule: RuleMostRecent, Source: ordered[0].Key()}
	}
	return g, lin
}

func latest(r Record) time.Time {
	if r.Customer.UpdatedAt != nil && r.Customer.UpdatedAt.After(r.UpdatedAt) {
		return *r.Customer.UpdatedAt
	}
	return r.UpdatedAt
}

func (r *Resolver) pick(f scalar, ordered []Record) (Record, string, bool) {
	for _, sys := range r.cfg.FieldPriority[f.name] {
		for _, rec := range ordered {
			if rec.System == sys && f.has(&rec.Customer) {
				return rec, RulePriority, true
			}
		}
	}
	switch r.cfg.FieldRule[f.name] {
	case RuleEarliest:
		// ordered is newest first; ties already broken by key.
		for i := len(ordered) - 1; i >= 0; i-- {
			if f.has(&ordered[i].Customer) {
				return ordered[i], RuleEarliest, true
			}
		}
		return Record{}, "", false
	case RuleComplete:
		best, bestSize := -1, -1
		for i, rec := range ordered {
			if !f.has(&rec.Customer) {
				continue
			}
			n := 1
			if f.size != nil {
				n = f.size(&rec.Customer)
			}
			if n > bestSize { // strict: among equals the most recent wins
				best, bestSize = i, n
			}
		}
		if best < 0 {
			return Record{}, "", false
		}
		return ordered[best], RuleComplete, true
	}
	for _, rec := range ordered {
		if f.has(&rec.Customer) {
			return rec, RuleMostRecent, true
		}
	}
	return Record{}, "", false
}

func appendOnce(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
