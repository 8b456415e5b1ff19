package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/crmhub/crmhub/hub"
)

// limitParam reads ?limit=, answering 400 itself when it is bad.
func limitParam(w http.ResponseWriter, r *http.Request) (int, bool) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return DefaultLimit, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, "limit must be an integer from 1 to "+strconv.Itoa(MaxLimit))
		return 0, false
	}
	return n, true
}

type changePage struct {
	Items      []hub.GoldenChange `json:"items"`
	NextCursor string             `json:"next_cursor"`
}

// listChanges serves the golden change feed. next_cursor is always set: a
// poller passes it back as since and never misses a change.
func (a *api) listChanges(w http.ResponseWriter, r *http.Request) {
	var since int64
	if c := r.URL.Query().Get("since"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, CodeInvalidArgument, "since must be a cursor this API returned")
			return
		}
		since = n
	}
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	items, err := a.opts.Changes.Changes(r.Context(), since, limit)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	page := changePage{Items: items, NextCursor: strconv.FormatInt(since, 10)}
	if len(items) > 0 {
		page.NextCursor = strconv.FormatInt(items[len(items)-1].Seq, 10)
	}
	if page.Items == nil {
		page.Items = []hub.GoldenChange{}
	}
	writeJSON(w, http.StatusOK, page)
}

type reviewPage struct {
	Items      []hub.Review `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

func (a *api) listReviews(w http.ResponseWriter, r *http.Request) {
	var afterA, afterB string
	if c := r.URL.Query().Get("cursor"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		var ok bool
		if err == nil {
			afterA, afterB, ok = strings.Cut(string(raw), "\x00")
		}
		if !ok {
			writeError(w, http.StatusBadRequest, CodeInvalidArgument, "cursor is not one this API returned")
			return
		}
	}
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	items, err := a.opts.Steward.Reviews(r.Context(), afterA, afterB, limit+1)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	page := reviewPage{Items: items}
	if len(items) > limit {
		last := items[limit-1]
		page.Items = items[:limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(last.A + "\x00" + last.B))
	}
	if page.Items == nil {
		page.Items = []hub.Review{}
	}
	writeJSON(w, http.StatusOK, page)
}

// actor returns who makes the request, answering 403 itself if unknown.
func (a *api) actor(w http.ResponseWriter, r *http.Request) (string, bool) {
	if tok, ok := TokenFrom(r.Context()); ok {
		return tok.Name, true
	}
	if a.opts.Actor != nil {
		if who, ok := a.opts.Actor(r); ok && who != "" {
			return who, true
		}
	}
	if a.opts.LocalActor != "" && a.opts.Auth == nil {
		return a.opts.LocalActor, true
	}
	writeError(w, http.StatusForbidden, CodeForbidden, "steward actions need an authenticated actor")
	return "", false
}

// decode reads a small JSON body strictly, answering 400 itself.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, "request body: "+err.Error())
		return false
	}
	return true
}

type decisionRequest struct {
	A        string `json:"a"`
	B        string `json:"b"`
	Decision string `json:"decision"` // accept | reject | defer (not sure: a note, the pair stays)
	Reason   string `json:"reason"`
}

func (a *api) decideReview(w http.ResponseWriter, r *http.Request) {
	who, ok := a.actor(w, r)
	if !ok {
		return
	}
	var req decisionRequest
	if !decode(w, r, &req) {
		return
	}
	var err error
	switch req.Decision {
	case "accept", "reject":
		err = a.opts.Steward.DecideReview(r.Context(), req.A, req.B, req.Decision == "accept", who, req.Reason)
	case "defer":
		err = a.opts.Steward.DeferReview(r.Context(), req.A, req.B, who, req.Reason)
	default:
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, `decision must be "accept", "reject" or "defer"`)
		return
	}
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": map[string]string{"accept": "accepted", "reject": "rejected", "defer": "deferred"}[req.Decision]})
}

type mergeRequest struct {
	With   string `json:"with"`
	Reason string `json:"reason"`
}

func (a *api) merge(w http.ResponseWriter, r *http.Request) {
	who, ok := a.actor(w, r)
	if !ok {
		return
	}
	var req mergeRequest
	if !decode(w, r, &req) {
		return
	}
	surv, err := a.opts.Steward.ForceMerge(r.Context(), r.PathValue("id"), req.With, who, req.Reason)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"survivor": surv})
}

type unmergeRequest struct {
	Record string `json:"record"` // system/entity/id
	Reason string `json:"reason"`
}

func (a *api) unmerge(w http.ResponseWriter, r *http.Request) {
	who, ok := a.actor(w, r)
	if !ok {
		return
	}
	var req unmergeRequest
	if !decode(w, r, &req) {
		return
	}
	id, err := a.opts.Steward.Unmerge(r.Context(), r.PathValue("id"), req.Record, who, req.Reason)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

func (a *api) auditLog(w http.ResponseWriter, r *http.Request) {
	items, err := a.opts.Steward.Audit(r.Context(), r.PathValue("id"))
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	if items == nil {
		items = []hub.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}
