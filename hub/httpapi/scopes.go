package httpapi

import (
	"strings"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/auth"
)

// This file is the access policy of the API: which scopes may call which
// route, and which parts of a customer each scope sees. It is one table on
// purpose, so a review reads it in one place and the test walks it.

// access is what a route needs.
type access int

const (
	// accessPublic: no token. Probes and /metrics, as load balancers and
	// Prometheus expect, and the OpenAPI document (it holds no data).
	accessPublic access = iota
	// accessRead: any department scope (sales, finance, service, steward, admin).
	accessRead
	// accessSteward: steward or admin.
	accessSteward
	// accessAdmin: admin only.
	accessAdmin
)

func (a access) String() string {
	switch a {
	case accessPublic:
		return "none"
	case accessRead:
		return "sales, finance, service, steward or admin"
	case accessSteward:
		return "steward or admin"
	}
	return "admin"
}

// routeAccess lists every route. A route missing here needs admin (except
// under /v1/deadletters, see accessOf): a route added later stays closed
// until someone decides who may call it.
var routeAccess = map[string]access{
	"GET /healthz":                    accessPublic,
	"GET /readyz":                     accessPublic,
	"GET /metrics":                    accessPublic,
	"GET /v1/openapi.json":            accessPublic,
	"GET /v1/customers":               accessRead,
	"GET /v1/customers/{id}":          accessRead,
	"GET /v1/changes":                 accessRead, // ids and ops only; the data is fetched with the caller's own scope
	"GET /v1/customers/{id}/explain":  accessSteward,
	"GET /v1/customers/{id}/audit":    accessSteward,
	"GET /v1/reviews":                 accessSteward,
	"POST /v1/reviews/decision":       accessSteward,
	"POST /v1/customers/{id}/merge":   accessSteward,
	"POST /v1/customers/{id}/unmerge": accessSteward,
	// Reconciliation names source ids: the steward's work, like dead letters.
	"GET /v1/reconciliation": accessSteward,
	// Write-back conflicts show both systems' values: a steward's task.
	"GET /v1/writeback/conflicts":                         accessSteward,
	"GET /v1/reconciliation/{connector}/{entity}/missing": accessSteward,
	// Connector status: counts, states and connector errors, no records.
	"GET /v1/connectors": accessSteward,
	// Customer value (value.go): any department may call; what it sees
	// follows its visibility (revenue: sales).
	"GET /v1/segments":          accessRead,
	"GET /v1/analytics/revenue": accessRead,
}

// RouteAccess names the scopes a route pattern ("METHOD /path") needs, for
// documentation and tests: "none" for public routes.
func RouteAccess(pattern string) string { return accessOf(pattern).String() }

func accessOf(pattern string) access {
	if a, ok := routeAccess[pattern]; ok {
		return a
	}
	// Dead letters (list, show, replay, resolve) are the steward's work.
	if _, path, _ := strings.Cut(pattern, " "); path == "/v1/deadletters" || strings.HasPrefix(path, "/v1/deadletters/") {
		return accessSteward
	}
	return accessAdmin
}

// allows reports whether a token with these scopes may call a route.
func allows(scopes []auth.Scope, need access) bool {
	if need == accessPublic {
		return true
	}
	for _, s := range scopes {
		switch {
		case s == auth.ScopeAdmin:
			return true
		case need == accessSteward && s == auth.ScopeSteward:
			return true
		case need == accessRead && (s == auth.ScopeSales || s == auth.ScopeFinance || s == auth.ScopeService || s == auth.ScopeSteward):
			return true
		}
	}
	return false
}

// visibility is what of a customer a caller sees. A hidden part is left
// out of the JSON (absent, not null), so a client cannot tell an empty
// list from one it may not see.
type visibility struct {
	Orders      bool // sales
	Payments    bool // finance: payments and open balance
	Cases       bool // sales, service
	CreditLimit bool // everyone but service
	// Personal is birth date, gender and person identifiers: only the
	// scopes that see full personal data (stewards, admins) get them.
	Personal bool
	// Revenue is the value figures' revenue, loyalty and segments, and
	// the value lists and analytics (sales); Margin the margins
	// (finance). Payment behaviour follows Payments, service figures
	// Cases (value.go).
	Revenue bool
	Margin  bool
}

var fullVisibility = visibility{Orders: true, Payments: true, Cases: true, CreditLimit: true, Personal: true, Revenue: true, Margin: true}

// scopeVisibility is the field-level rule per scope. A token with several
// scopes sees the union. Stewards resolve identities: they see the whole
// customer record, not the business records linked to it.
var scopeVisibility = map[auth.Scope]visibility{
	auth.ScopeSales:   {Orders: true, Cases: true, CreditLimit: true, Revenue: true},
	auth.ScopeFinance: {Payments: true, CreditLimit: true, Margin: true},
	auth.ScopeService: {Cases: true},
	auth.ScopeSteward: {CreditLimit: true, Personal: true},
	auth.ScopeAdmin:   fullVisibility,
}

func visibilityOf(scopes []auth.Scope) visibility {
	var v visibility
	for _, s := range scopes {
		x := scopeVisibility[s]
		v.Orders = v.Orders || x.Orders
		v.Payments = v.Payments || x.Payments
		v.Cases = v.Cases || x.Cases
		v.CreditLimit = v.CreditLimit || x.CreditLimit
		v.Personal = v.Personal || x.Personal
		v.Revenue = v.Revenue || x.Revenue
		v.Margin = v.Margin || x.Margin
	}
	return v
}

// customerFields lists golden-record fields (JSON names) a visibility
// hides, for the record, its sources and its lineage alike.
func (v visibility) hiddenFields() []string {
	var hidden []string
	if !v.CreditLimit {
		hidden = append(hidden, "credit_limit")
	}
	if !v.Personal {
		hidden = append(hidden, "birth_date", "gender", "identifiers")
	}
	return hidden
}

// redactCustomer removes hidden fields from a canonical customer.
func (v visibility) redactCustomer(c *hub.Customer) {
	if !v.CreditLimit {
		c.CreditLimit = nil
	}
	if !v.Personal {
		c.BirthDate, c.Gender, c.Identifiers = "", "", nil
	}
}

// redactGolden removes hidden fields from a golden customer: the record,
// every source record and the lineage entries naming them.
func (v visibility) redactGolden(g *hub.GoldenCustomer) {
	hidden := v.hiddenFields()
	if len(hidden) == 0 {
		return
	}
	v.redactCustomer(&g.Customer)
	srcs := make([]hub.SourceRecordRef, len(g.Sources))
	for i, s := range g.Sources {
		v.redactCustomer(&s.Customer)
		srcs[i] = s
	}
	g.Sources = srcs
	if g.Lineage != nil {
		lin := make(map[string]hub.FieldLineage, len(g.Lineage))
		for k, l := range g.Lineage {
			if !hiddenField(hidden, k) {
				lin[k] = l
			}
		}
		g.Lineage = lin
	}
}

func hiddenField(hidden []string, key string) bool {
	for _, h := range hidden {
		if key == h || strings.HasPrefix(key, h+".") {
			return true
		}
	}
	return false
}
