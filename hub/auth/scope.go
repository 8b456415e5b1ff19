package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Scope is a permission a token carries. What each scope may read or do is
// decided by the API (hub/httpapi/scopes.go); this package only knows the
// names, so a typo never reaches the database.
type Scope string

// Scopes, one per department and one per action.
const (
	ScopeSales   Scope = "sales"   // customers, orders, service cases
	ScopeFinance Scope = "finance" // customers, payments, open balance
	ScopeService Scope = "service" // customers (without credit limit), service cases
	ScopeSteward Scope = "steward" // read, review, merge, unmerge, replay
	ScopeAdmin   Scope = "admin"   // everything
)

// AllScopes lists the scopes in a stable order.
var AllScopes = []Scope{ScopeSales, ScopeFinance, ScopeService, ScopeSteward, ScopeAdmin}

// ParseScopes reads a comma-separated list ("sales,finance"), sorted and
// without duplicates. An unknown or empty list is an ErrInvalid.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, part := range strings.Split(s, ",") {
		p := Scope(strings.ToLower(strings.TrimSpace(part)))
		if p == "" {
			continue
		}
		if !slices.Contains(AllScopes, p) {
			return nil, fmt.Errorf("%w: unknown scope %q (want one of %s)", ErrInvalid, p, joinScopes(AllScopes))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: at least one scope is required (one of %s)", ErrInvalid, joinScopes(AllScopes))
	}
	slices.Sort(out)
	return out, nil
}

func joinScopes(ss []Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}
