package httpapi

import (
	"context"
	"net/http"

	"github.com/crmhub/crmhub/hub"
)

// WritebackConflicts lists the write-back conflicts waiting for a retry or
// for a steward (hub/store/ledger).
type WritebackConflicts interface {
	Conflicts(ctx context.Context, target string) ([]hub.WritebackConflict, error)
}

func (a *api) writebackRoutes(mux *routeMux) {
	mux.HandleFunc("GET /v1/writeback/conflicts", a.listWritebackConflicts)
}

type writebackConflictPage struct {
	Items []hub.WritebackConflict `json:"items"`
}

// listWritebackConflicts serves the conflicted write-backs, every target's
// or one's (?target=), the steward tasks only with ?steward=true.
func (a *api) listWritebackConflicts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "target" && k != "steward" {
			writeError(w, http.StatusBadRequest, CodeInvalidArgument, "unknown query parameter "+truncateID(k)+"; valid: target, steward")
			return
		}
	}
	stewardOnly := false
	switch q.Get("steward") {
	case "", "false":
	case "true":
		stewardOnly = true
	default:
		writeError(w, http.StatusBadRequest, CodeInvalidArgument, "steward: want true or false")
		return
	}
	cs, err := a.opts.Writeback.Conflicts(r.Context(), q.Get("target"))
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	items := []hub.WritebackConflict{}
	for _, c := range cs {
		if !stewardOnly || c.Steward {
			items = append(items, c)
		}
	}
	writeJSON(w, http.StatusOK, writebackConflictPage{Items: items})
}

// truncateID keeps what an error message echoes of a caller's input short.
func truncateID(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
