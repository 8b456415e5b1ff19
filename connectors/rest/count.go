package rest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Reconciliation: an API that states its total in a list response (the
// entity's `total_path`) can be counted with one small request. Listing
// every key would mean a full pass over the API, which a rate-limited
// endpoint should not pay for on request: Keys is not supported.

// Count asks for the entity's first page (one record per page where the
// API takes a size parameter) and reads the total. It only reads the
// client and the entity configs, fixed at Open, so it is safe beside Read.
func (s *Source) Count(ctx context.Context, entity string) (int64, error) {
	if s.client == nil {
		return 0, errors.New("rest: count before Open")
	}
	var e *Entity
	for i := range s.cfg.Entities {
		if s.cfg.Entities[i].Name == entity {
			e = &s.cfg.Entities[i]
		}
	}
	if e == nil {
		return 0, fmt.Errorf("rest: entity %q is not configured: %w", entity, sdk.ErrNotSupported)
	}
	if e.TotalPath == "" {
		return 0, fmt.Errorf("rest: entity %s has no total_path: %w", entity, sdk.ErrNotSupported)
	}
	u := s.countURL(e)
	body, _, err := s.get(ctx, u)
	if err != nil {
		return 0, fmt.Errorf("rest: entity %s: count: %w", entity, err)
	}
	pg := &page{body: body}
	v, ok := pg.value(e.TotalPath)
	if !ok {
		return 0, fmt.Errorf("rest: entity %s: count: %s: response has no %q", entity, redact(u), e.TotalPath)
	}
	// Totals arrive as 42, 42.0 or "42".
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || f < 0 || f != float64(int64(f)) {
			return 0, fmt.Errorf("rest: entity %s: count: %s: %s is %q, not a count", entity, redact(u), e.TotalPath, v)
		}
		n = int64(f)
	}
	if n < 0 {
		return 0, fmt.Errorf("rest: entity %s: count: %s: %s is negative (%d)", entity, redact(u), e.TotalPath, n)
	}
	return n, nil
}

// Keys is not supported: see the note at the top of the file.
func (s *Source) Keys(_ context.Context, entity, _ string, _ int) ([]string, error) {
	return nil, fmt.Errorf("rest: entity %s: listing keys: %w", entity, sdk.ErrNotSupported)
}

var _ sdk.Reconciler = (*Source)(nil)

// countURL is the first page of a full pass (no since filter: the total
// must cover every record), as small as the API allows.
func (s *Source) countURL(e *Entity) string {
	ref, _ := url.Parse(e.Path)
	full := s.cfg.base.JoinPath(ref.Path)
	q := ref.Query()
	p := e.Pagination
	if p.SizeParam != "" {
		q.Set(p.SizeParam, "1")
	}
	switch p.Type {
	case "page":
		q.Set(p.Param, "1")
	case "offset":
		q.Set(p.Param, "0")
	}
	full.RawQuery = q.Encode()
	return full.String()
}
