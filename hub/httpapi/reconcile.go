package httpapi

import (
	"errors"
	"net/http"

	"github.com/crmhub/crmhub/hub"
)

// CodeUnsupported: the connector cannot answer this (a source that cannot
// list its keys).
const CodeUnsupported = "unsupported"

func (a *api) reconcileRoutes(mux *routeMux) {
	mux.HandleFunc("GET /v1/reconciliation", a.listReconciliation)
	mux.HandleFunc("GET /v1/reconciliation/{connector}/{entity}/missing", a.missingIDs)
}

type reconcilePage struct {
	Items []hub.ReconcileResult `json:"items"`
}

// listReconciliation serves the latest comparison per connector and entity.
func (a *api) listReconciliation(w http.ResponseWriter, r *http.Request) {
	res, err := a.opts.Reconciliation.ReconcileResults(r.Context())
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	if res == nil {
		res = []hub.ReconcileResult{}
	}
	writeJSON(w, http.StatusOK, reconcilePage{Items: res})
}

// missingIDs walks the source's and the hub's ids on request: it reads
// every id of the entity on both sides, so it is a steward's tool, not
// something to poll.
func (a *api) missingIDs(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	m, err := a.opts.Reconciliation.MissingIDs(r.Context(), r.PathValue("connector"), r.PathValue("entity"), limit)
	if errors.Is(err, errors.ErrUnsupported) { // a connector's sdk.ErrNotSupported
		writeError(w, http.StatusNotImplemented, CodeUnsupported, err.Error())
		return
	}
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}
