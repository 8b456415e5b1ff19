package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/crmhub/crmhub/hub"
)

// Dead-letter routes: operations list dead letters by reason, replay one
// or all of a kind after a mapping fix, and resolve the ones a replay
// cannot fix (bad source lines). Entries carry source payloads (personal
// data), so the access policy gives these routes to stewards; replay and
// resolve are attributed to the actor.

func (a *api) deadLetterRoutes(mux *routeMux) {
	mux.HandleFunc("GET /v1/deadletters", a.listDeadLetters)
	mux.HandleFunc("GET /v1/deadletters/{id}", a.getDeadLetter)
	mux.HandleFunc("POST /v1/deadletters/{id}/replay", a.replayDeadLetter)
	mux.HandleFunc("POST /v1/deadletters/{id}/resolve", a.resolveDeadLetter)
	mux.HandleFunc("POST /v1/deadletters/replay", a.replayDeadLetters)
}

type deadLetterPage struct {
	Items      []hub.DeadLetterEntry `json:"items"`
	NextCursor string                `json:"next_cursor,omitempty"`
}

func (a *api) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := hub.DeadLetterFilter{ReasonClass: q.Get("reason_class"), Connector: q.Get("connector"), Status: q.Get("status"),
		Mapping: q.Get("mapping"), SourceEntity: q.Get("source_entity")}
	switch f.Status {
	case "", hub.DeadLetterOpen, hub.DeadLetterReplayed, hub.DeadLetterResolved:
	default:
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, `status must be "open", "replayed" or "resolved"`)
		return
	}
	if c := q.Get("cursor"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		var n int64
		if err == nil {
			n, err = strconv.ParseInt(string(raw), 10, 64)
		}
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, CodeInvalidArgument, "cursor is not one this API returned")
			return
		}
		f.After = n
	}
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	f.Limit = limit + 1 // one more tells whether a next page exists
	items, err := a.opts.DeadLetters.ListDeadLetters(r.Context(), f)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	page := deadLetterPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(items[limit-1].Seq, 10)))
	}
	if page.Items == nil {
		page.Items = []hub.DeadLetterEntry{}
	}
	for i := range page.Items {
		page.Items[i].WithRawText()
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *api) getDeadLetter(w http.ResponseWriter, r *http.Request) {
	e, err := a.opts.DeadLetters.FindDeadLetter(r.Context(), r.PathValue("id"))
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e.WithRawText())
}

func (a *api) replayDeadLetter(w http.ResponseWriter, r *http.Request) {
	who, ok := a.actor(w, r)
	if !ok {
		return
	}
	res, err := a.opts.DeadLetters.Replay(r.Context(), r.PathValue("id"), who)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

type resolveRequest struct {
	Note string `json:"note"`
}

func (a *api) resolveDeadLetter(w http.ResponseWriter, r *http.Request) {
	who, ok := a.actor(w, r)
	if !ok {
		return
	}
	var req resolveRequest
	if !decode(w, r, &req) {
		return
	}
	e, err := a.opts.DeadLetters.Resolve(r.Context(), r.PathValue("id"), who, req.Note)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e.WithRawText())
}

type replayRequest struct {
	ReasonClass  string `json:"reason_class"`
	Connector    string `json:"connector"`
	Mapping      string `json:"mapping"`
	SourceEntity string `json:"source_entity"`
}

// replayDeadLetters replays every open dead letter the filter selects. An
// empty filter is refused: replaying everything is rarely what a fix to
// one mapping calls for, and `reason_class` says it explicitly.
func (a *api) replayDeadLetters(w http.ResponseWriter, r *http.Request) {
	who, ok := a.actor(w, r)
	if !ok {
		return
	}
	var req replayRequest
	if !decode(w, r, &req) {
		return
	}
	if req == (replayRequest{}) {
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, "give at least one of reason_class, connector, mapping, source_entity")
		return
	}
	sum, err := a.opts.DeadLetters.ReplayMatching(r.Context(), hub.DeadLetterFilter{ReasonClass: req.ReasonClass,
		Connector: req.Connector, Mapping: req.Mapping, SourceEntity: req.SourceEntity}, who)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}
