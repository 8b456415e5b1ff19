package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/value"
)

// valueStore serves the customer value figures (hub/store value.go,
// analytics.go); a store without them serves none of these routes.
type valueStore interface {
	CustomerValue(ctx context.Context, golden string) (*value.Figures, error)
	ValueCustomers(ctx context.Context, f value.ListFilter) ([]value.ListItem, error)
	Segments(ctx context.Context) ([]value.SegmentCount, error)
	RevenueBy(ctx context.Context, dim string) ([]value.RevenueRow, error)
}

// valueSection is the value part of GET /v1/customers/{id}, as far as the
// caller's scopes allow: sales sees revenue, loyalty and segments,
// finance payment behaviour and margins, service (and sales, who see
// cases) the service figures. A part the caller may not see is absent.
type valueSection struct {
	AsOf     string          `json:"as_of"`
	Revenue  *value.Revenue  `json:"revenue,omitempty"`
	Loyalty  *value.Loyalty  `json:"loyalty,omitempty"`
	Segment  *value.Segment  `json:"segment,omitempty"`
	Margin   *value.Margin   `json:"margin,omitempty"`
	Payments *value.Payments `json:"payments,omitempty"`
	Service  *value.Service  `json:"service,omitempty"`
}

func (a *api) valueRoutes(mux *routeMux) {
	if _, ok := a.store.(valueStore); !ok {
		return
	}
	mux.HandleFunc("GET /v1/segments", a.segments)
	mux.HandleFunc("GET /v1/analytics/revenue", a.revenueBy)
}

// customerValue adds the value section to out (nothing without figures
// or a part the caller may see).
func (a *api) customerValue(r *http.Request, out *customerResponse, vis visibility) error {
	vs, ok := a.store.(valueStore)
	if !ok || !(vis.Revenue || vis.Margin || vis.Payments || vis.Cases) {
		return nil
	}
	f, err := vs.CustomerValue(r.Context(), out.ID)
	if err != nil || f == nil {
		return err
	}
	sec := &valueSection{AsOf: f.AsOf}
	if vis.Revenue {
		sec.Revenue, sec.Loyalty, sec.Segment = &f.Revenue, &f.Loyalty, &f.Segment
	}
	if vis.Margin {
		sec.Margin = f.Margin
	}
	if vis.Payments {
		sec.Payments = &f.Payments
	}
	if vis.Cases {
		sec.Service = &f.Service
	}
	out.Value = sec
	return nil
}

// valueParams are the /v1/customers parameters that list by value.
var valueParams = []string{"segment", "stage", "abc", "sort"}

func wantsValueList(r *http.Request) bool {
	q := r.URL.Query()
	return slices.ContainsFunc(valueParams, q.Has)
}

const valueCursorTag = "v:"

type valuePage struct {
	Items      []value.ListItem `json:"items"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// listByValue serves GET /v1/customers?segment=&stage=&abc=&sort=: the
// customers of a segment, stage or class by revenue of the last 12 months.
func (a *api) listByValue(w http.ResponseWriter, r *http.Request, vis visibility) {
	vs, ok := a.store.(valueStore)
	if !ok {
		writeError(w, http.StatusNotFound, CodeNotFound, "this store keeps no value figures")
		return
	}
	if !vis.Revenue {
		writeError(w, http.StatusForbidden, CodeForbidden, "the token's scopes do not cover revenue and segments")
		return
	}
	q := r.URL.Query()
	for _, p := range []string{"email", "phone", "name", "tax_id", "system", "source_id", "view", "orders_limit", "payments_limit", "service_cases_limit"} {
		if q.Has(p) {
			writeError(w, http.StatusBadRequest, CodeInvalidArgument, p+" does not combine with segment, stage, abc or sort")
			return
		}
	}
	f := value.ListFilter{Segment: q.Get("segment"), Stage: q.Get("stage"), ABC: q.Get("abc"), Limit: DefaultLimit}
	if f.Stage != "" && !value.ValidStage(f.Stage) {
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, "stage must be one of "+joinStages())
		return
	}
	if f.Segment != "" && !validSegment(f.Segment) {
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, "segment must be one of "+joinSegments())
		return
	}
	if f.ABC != "" && f.ABC != "A" && f.ABC != "B" && f.ABC != "C" {
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, "abc must be A, B or C")
		return
	}
	switch q.Get("sort") {
	case "", "-revenue_12m":
		f.Desc = true
	case "revenue_12m":
	default:
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, "sort must be revenue_12m or -revenue_12m")
		return
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			writeError(w, http.StatusBadRequest, CodeInvalidArgument, "limit must be an integer from 1 to "+strconv.Itoa(MaxLimit))
			return
		}
		f.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		after, ok := strings.CutPrefix(string(raw), valueCursorTag)
		if err != nil || !ok {
			writeError(w, http.StatusBadRequest, CodeInvalidArgument, "cursor is not one this API returned for this list")
			return
		}
		f.After = after
	}
	limit := f.Limit
	f.Limit++
	items, err := vs.ValueCustomers(r.Context(), f)
	if errors.Is(err, value.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, "cursor is not one this API returned for this list")
		return
	}
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	page := valuePage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(valueCursorTag + value.ListCursor(items[limit-1])))
	}
	if page.Items == nil {
		page.Items = []value.ListItem{}
	}
	for i := range page.Items {
		vis.redactCustomer(&page.Items[i].Customer)
	}
	writeJSON(w, http.StatusOK, page)
}

func validSegment(s string) bool {
	for _, x := range value.Segments {
		if x.Name == s {
			return true
		}
	}
	return false
}

func joinSegments() string {
	var names []string
	for _, x := range value.Segments {
		names = append(names, x.Name)
	}
	return strings.Join(names, ", ")
}

func joinStages() string {
	var names []string
	for _, x := range value.Stages {
		names = append(names, string(x))
	}
	return strings.Join(names, ", ")
}

// segments serves GET /v1/segments: customers and revenue of the last 12
// months per segment, stage and ABC class.
func (a *api) segments(w http.ResponseWriter, r *http.Request) {
	if !a.visibility(r).Revenue {
		writeError(w, http.StatusForbidden, CodeForbidden, "the token's scopes do not cover revenue and segments")
		return
	}
	segs, err := a.store.(valueStore).Segments(r.Context())
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": segs})
}

// revenueBy serves GET /v1/analytics/revenue?by=category|channel|region|month.
// Sales sees revenue and customers, finance the margins, admin both.
func (a *api) revenueBy(w http.ResponseWriter, r *http.Request) {
	vis := a.visibility(r)
	if !vis.Revenue && !vis.Margin {
		writeError(w, http.StatusForbidden, CodeForbidden, "the token's scopes cover neither revenue nor margins")
		return
	}
	by := r.URL.Query().Get("by")
	if !slices.Contains(value.Dimensions, by) {
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, "by must be one of "+strings.Join(value.Dimensions, ", "))
		return
	}
	rows, err := a.store.(valueStore).RevenueBy(r.Context(), by)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	// What finance sees of a row: the margin alone.
	type marginItem struct {
		Key      string     `json:"key"`
		Currency string     `json:"currency"`
		Margin   *hub.Money `json:"margin"`
	}
	items := make([]any, 0, len(rows))
	for i := range rows {
		row := &rows[i]
		if !vis.Margin {
			row.Margin = nil
		}
		if vis.Revenue {
			items = append(items, row)
			continue
		}
		if row.Margin != nil {
			items = append(items, marginItem{Key: row.Key, Currency: row.Revenue.Currency, Margin: row.Margin})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"by": by, "items": items})
}
