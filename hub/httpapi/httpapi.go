package httpapi

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crmhub/crmhub/hub"
)

// Stable error codes.
const (
	CodeNotFound        = "not_found"
	CodeInvalidArgument = "invalid_argument"
	CodeInternal        = "internal"
	CodeUnavailable     = "unavailable"
	CodeConflict        = "conflict"
	CodeForbidden       = "forbidden"
)

// Page sizes of list endpoints.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Options configure the handler.
type Options struct {
	// Gatherer is served on /metrics; nil serves 404 there.
	Gatherer prometheus.Gatherer
	// Ready returns named readiness checks, nil error meaning ready. The
	// store's Ping is always checked as "store".
	Ready func(ctx context.Context) map[string]error
	// Logger; nil discards.
	Logger *slog.Logger
	// Changes serves GET /v1/changes; nil leaves the route out.
	Changes hub.ChangeFeed
	// Steward serves the review queue, merge, unmerge and audit routes;
	// nil leaves them out. Wrap the handler with authentication: these
	// routes change identity resolution.
	Steward hub.Steward
	// Actor names who makes a steward request (from the authenticated
	// token). Without it, steward actions answer 403: every action must be
	// attributable.
	Actor func(r *http.Request) (string, bool)
	// DeadLetters serves the dead-letter list, replay and resolve routes;
	// nil leaves them out.
	DeadLetters hub.DeadLetters
	// Reconciliation serves GET /v1/reconciliation and the missing-id
	// listing; nil leaves them out.
	Reconciliation hub.Reconciliation
	// Writeback lists write-back conflicts and steward tasks; nil leaves
	// the route out.
	Writeback WritebackConflicts
	// Connectors serves GET /v1/connectors (status.go); nil leaves it out.
	Connectors ConnectorsFunc
	// Auth turns on token authentication (auth.go) and the scope policy
	// (scopes.go); the token's name is then the steward actor. nil leaves
	// every route open.
	Auth TokenVerifier
	// Profiling serves Go's profiles under /debug/pprof/ (admin scope).
	Profiling bool
	// LocalActor, when set and a request names no actor (no token, no
	// Actor), is who a steward action runs as: with authentication off
	// (the demo, a laptop) every action still has a name in the audit.
	LocalActor string
}

type api struct {
	store hub.Store
	opts  Options
	log   *slog.Logger
}

// New returns the hub's HTTP handler.
func New(store hub.Store, opts Options) http.Handler {
	a := &api{store: store, opts: opts, log: opts.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	mux := &routeMux{ServeMux: http.NewServeMux(), wrap: a.guard}
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapiDoc)
	})
	mux.HandleFunc("GET /v1/customers/{id}", a.getCustomer)
	mux.HandleFunc("GET /v1/customers/{id}/explain", a.explainCustomer)
	mux.HandleFunc("GET /v1/customers", a.listCustomers)
	if opts.Changes != nil {
		mux.HandleFunc("GET /v1/changes", a.listChanges)
	}
	if opts.Steward != nil {
		mux.HandleFunc("GET /v1/reviews", a.listReviews)
		mux.HandleFunc("POST /v1/reviews/decision", a.decideReview)
		mux.HandleFunc("POST /v1/customers/{id}/merge", a.merge)
		mux.HandleFunc("POST /v1/customers/{id}/unmerge", a.unmerge)
		mux.HandleFunc("GET /v1/customers/{id}/audit", a.auditLog)
	}
	if opts.DeadLetters != nil {
		a.deadLetterRoutes(mux)
	}
	if opts.Reconciliation != nil {
		a.reconcileRoutes(mux)
	}
	a.valueRoutes(mux)
	if opts.Writeback != nil {
		a.writebackRoutes(mux)
	}
	if opts.Profiling {
		profilingRoutes(mux)
	}
	if opts.Connectors != nil {
		mux.HandleFunc("GET /v1/connectors", a.listConnectors)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.ready)
	if opts.Gatherer != nil {
		// A collector that fails (a store count timing out under load)
		// leaves out its own metrics, never the whole scrape.
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	}
	mux.ServeMux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no route "+r.Method+" "+r.URL.Path)
	})
	return &handler{Handler: a.recoverer(mux), routes: mux.routes}
}

//go:embed openapi.json
var openapiDoc []byte

// routeMux remembers the patterns it serves, so a test can hold the
// OpenAPI document against the routes that really exist.
// It also puts every route behind its access check, so no route can be
// registered without one.
type routeMux struct {
	*http.ServeMux
	routes []string
	wrap   func(pattern string, h http.Handler) http.Handler
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.routes = append(m.routes, pattern)
	m.ServeMux.Handle(pattern, m.wrap(pattern, checkParams(pattern, h)))
}

type handler struct {
	http.Handler
	routes []string
}

// Routes lists the "METHOD /path" patterns a handler from New serves.
func Routes(h http.Handler) []string {
	if hh, ok := h.(*handler); ok {
		return append([]string(nil), hh.routes...)
	}
	return nil
}

// recoverer turns a panic into a JSON 500 and logs the route, never the
// query (it holds e-mails and phone numbers).
func (a *api) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				a.log.ErrorContext(r.Context(), "panic in handler", "method", r.Method, "pattern", r.Pattern, "panic", v)
				writeError(w, http.StatusInternalServerError, CodeInternal, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// Compact: indenting cost a tenth of a search request's CPU and a
	// quarter of its bytes; `| jq` reads it for people.
	_ = json.NewEncoder(w).Encode(v)
}

// maxErrorMessage bounds an error message: ids and values from the request
// are part of some, and a request must not get a large input echoed back.
const maxErrorMessage = 512

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, clip(msg, maxErrorMessage)
	writeJSON(w, status, b)
}

// storeError maps a store error to a status and code.
func (a *api) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, hub.ErrNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, hub.ErrInvalid):
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, err.Error())
	case errors.Is(err, hub.ErrConflict):
		writeError(w, http.StatusConflict, CodeConflict, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "request cancelled or timed out")
	default:
		a.log.ErrorContext(r.Context(), "store error", "pattern", r.Pattern, "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "internal error")
	}
}

// find reads the customer {id} with the linked pages q asks for, or
// redirects a merged id to its survivor.
func (a *api) find(w http.ResponseWriter, r *http.Request, q hub.LinkQuery) (*hub.Customer360, bool) {
	id := r.PathValue("id")
	v, err := a.store.FindCustomer360(r.Context(), id, q)
	if err != nil {
		a.storeError(w, r, err)
		return nil, false
	}
	if v.ID != id {
		// A merged id: send the client to the survivor, permanently.
		loc := "/v1/customers/" + url.PathEscape(v.ID)
		if r.Pattern == "GET /v1/customers/{id}/explain" {
			loc += "/explain"
		}
		http.Redirect(w, r, loc, http.StatusMovedPermanently)
		return nil, false
	}
	return v, true
}

func (a *api) getCustomer(w http.ResponseWriter, r *http.Request) {
	vis := a.visibility(r)
	q, ok := linkQuery(w, r, vis, true)
	if !ok {
		return
	}
	if v, ok := a.find(w, r, q); ok {
		out := shape(v, vis)
		if err := a.customerValue(r, &out, vis); err != nil {
			a.storeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// explanation answers "why does the golden record say this": each field's
// source record and rule, and the source records themselves.
type explanation struct {
	ID         string                      `json:"id"`
	Lineage    map[string]hub.FieldLineage `json:"lineage"`
	Sources    []hub.SourceRecordRef       `json:"sources"`
	MergedFrom []string                    `json:"merged_from,omitempty"`
	// Matches: why fuzzy links joined source records of this customer,
	// comparison by comparison (records joined by a shared e-mail, phone,
	// tax id or cross reference have no entry: the key is the reason).
	Matches []hub.MatchEvidence `json:"matches"`
}

// evidencer explains the fuzzy links of a golden customer (hub/store).
type evidencer interface {
	MatchEvidence(ctx context.Context, golden string) ([]hub.MatchEvidence, error)
}

func (a *api) explainCustomer(w http.ResponseWriter, r *http.Request) {
	// No linked lists: the explanation is about the golden record.
	v, ok := a.find(w, r, hub.LinkQuery{})
	if !ok {
		return
	}
	a.visibility(r).redactGolden(&v.GoldenCustomer)
	out := explanation{ID: v.ID, Lineage: v.Lineage, Sources: v.Sources, MergedFrom: v.MergedFrom, Matches: []hub.MatchEvidence{}}
	if ev, ok := a.store.(evidencer); ok {
		m, err := ev.MatchEvidence(r.Context(), v.ID)
		if err != nil {
			a.storeError(w, r, err)
			return
		}
		out.Matches = m
	}
	writeJSON(w, http.StatusOK, out)
}

type customerPage struct {
	Items      []customerResponse `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// customerSummary is one customer on a search page: who it is and how to
// reach it, without sources, lineage or linked records.
type customerSummary struct {
	ID               string    `json:"id"`
	Kind             string    `json:"kind"`
	GivenName        string    `json:"given_name,omitempty"`
	FamilyName       string    `json:"family_name,omitempty"`
	FullName         string    `json:"full_name,omitempty"`
	OrganizationName string    `json:"organization_name,omitempty"`
	Email            string    `json:"email,omitempty"`
	Phone            string    `json:"phone,omitempty"`
	PostalCode       string    `json:"postal_code,omitempty"`
	City             string    `json:"city,omitempty"`
	Country          string    `json:"country,omitempty"`
	UpdatedAt        time.Time `json:"updated_at"`
	Href             string    `json:"href"`
}

type summaryPage struct {
	Items      []customerSummary `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
	View       string            `json:"view"`
}

func (a *api) listSummaries(w http.ResponseWriter, r *http.Request, f hub.CustomerFilter, limit int, vis visibility) {
	items, err := a.store.FindCustomerSummaries(r.Context(), f)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	page := summaryPage{Items: []customerSummary{}, View: "summary"}
	if len(items) > limit {
		items = items[:limit]
		next := customerCursorTag + items[limit-1].ID
		if last := items[limit-1]; last.FoundBy != "" {
			// A name search is ordered by the name found, then id.
			next = nameCursorTag + last.FoundBy + "\x00" + last.ID
		}
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	for i := range items {
		g := &items[i]
		vis.redactGolden(g)
		c := g.Customer
		s := customerSummary{ID: g.ID, Kind: c.Kind, GivenName: c.GivenName, FamilyName: c.FamilyName, FullName: c.FullName,
			OrganizationName: c.OrganizationName, UpdatedAt: g.UpdatedAt, Href: "/v1/customers/" + g.ID}
		if len(c.Emails) > 0 {
			s.Email = c.Emails[0]
		}
		if len(c.Phones) > 0 {
			s.Phone = c.Phones[0]
		}
		if len(c.Addresses) > 0 {
			s.PostalCode, s.City, s.Country = c.Addresses[0].PostalCode, c.Addresses[0].City, c.Addresses[0].Country
		}
		page.Items = append(page.Items, s)
	}
	writeJSON(w, http.StatusOK, page)
}

// customerCursorTag starts every customer-list cursor, so that a string
// this API did not return is refused, not read as an id to page after.
const customerCursorTag = "c1:"

// nameCursorTag starts the cursor of a name search's summary pages: the
// name the last customer was found by and its id.
const nameCursorTag = "n1:"

func (a *api) listCustomers(w http.ResponseWriter, r *http.Request) {
	vis := a.visibility(r)
	if wantsValueList(r) {
		a.listByValue(w, r, vis)
		return
	}
	links, ok := linkQuery(w, r, vis, false)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := hub.CustomerFilter{
		Email: q.Get("email"), Phone: q.Get("phone"), Name: q.Get("name"), TaxID: q.Get("tax_id"),
		System: q.Get("system"), SourceID: q.Get("source_id"),
	}
	limit := DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			writeError(w, http.StatusBadRequest, CodeInvalidArgument, "limit must be an integer from 1 to "+strconv.Itoa(MaxLimit))
			return
		}
		limit = n
	}
	if c := q.Get("cursor"); c != "" {
		after, err := base64.RawURLEncoding.DecodeString(c)
		id, ok := strings.CutPrefix(string(after), customerCursorTag)
		if rest, named := strings.CutPrefix(string(after), nameCursorTag); named && err == nil {
			f.AfterName, id, ok = strings.Cut(rest, "\x00")
			ok = ok && f.AfterName != ""
		}
		if err != nil || !ok || id == "" {
			writeError(w, http.StatusBadRequest, CodeInvalidArgument, "cursor is not one this API returned")
			return
		}
		f.After = id
	}
	f.Limit = limit + 1 // one more tells whether a next page exists
	view := q.Get("view")
	switch view {
	case "":
		// A name prefix lists many customers: summaries, each with a link
		// to the whole customer. A lookup by a key finds one: whole.
		view = "full"
		if f.NameOnly() &&
			!q.Has("orders_limit") && !q.Has("payments_limit") && !q.Has("service_cases_limit") {
			view = "summary"
		}
	case "full":
	case "summary":
		if q.Has("orders_limit") || q.Has("payments_limit") || q.Has("service_cases_limit") {
			writeError(w, http.StatusBadRequest, CodeInvalidArgument, "the *_limit parameters page linked lists, which view=summary leaves out")
			return
		}
	default:
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, "view must be summary or full")
		return
	}
	if byName := view == "summary" && f.NameOnly(); f.After != "" && (f.AfterName != "") != byName {
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, "cursor is not one this API returned for this search")
		return
	}
	if view == "summary" {
		a.listSummaries(w, r, f, limit, vis)
		return
	}
	items, err := a.store.FindCustomers360(r.Context(), f, links)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	page := customerPage{Items: []customerResponse{}}
	if len(items) > limit {
		items = items[:limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(customerCursorTag + items[limit-1].ID))
	}
	for i := range items {
		page.Items = append(page.Items, shape(&items[i], vis))
	}
	writeJSON(w, http.StatusOK, page)
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func (a *api) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks := map[string]error{"store": a.store.Ping(ctx)}
	if a.opts.Ready != nil {
		for name, err := range a.opts.Ready(ctx) {
			checks[name] = err
		}
	}
	out := readiness{Status: "ready", Checks: map[string]string{}}
	status := http.StatusOK
	for name, err := range checks {
		if err != nil {
			out.Checks[name] = err.Error()
			out.Status, status = "unavailable", http.StatusServiceUnavailable
			continue
		}
		out.Checks[name] = "ok"
	}
	writeJSON(w, status, out)
}
