package httpapi

import (
	"context"
	"net/http"
	"time"
)

// ConnectorStatus is one configured connector instance as GET
// /v1/connectors shows it: how its runner is doing and how far it read.
// Counts are since the hub started; SourceTotal and Remaining are -1 when
// unknown (the source cannot count, or the run resumed from a saved
// position).
type ConnectorStatus struct {
	Name   string `json:"name"`
	Plugin string `json:"plugin"`
	System string `json:"system"`
	// State is starting, running, retrying, restarting, failed, stopped
	// or disabled; elsewhere on an instance without the connectors role
	// (the runners' instances serve this route too). retrying: the
	// source's reads fail (it went away) and the runner tries again with
	// backoff; restarting: the plugin process crashed and is restarted.
	State string `json:"state"`
	// Error is why the runner failed, retries or restarts.
	Error string `json:"error,omitempty"`
	// The counts, SourceLagSeconds and LastSuccess are read from the
	// collectors /metrics serves (crmhub_pipeline_records_read_total,
	// _records_mapped_total, _dead_letters_total, the maximum of
	// crmhub_pipeline_source_lag_seconds over the entities,
	// crmhub_connector_last_success_timestamp_seconds), so the console's
	// status page and a dashboard never disagree.
	RecordsRead         int64   `json:"records_read"`
	RecordsMapped       int64   `json:"records_mapped"`
	RecordsDeadLettered int64   `json:"records_dead_lettered"`
	CaughtUp            bool    `json:"caught_up"`
	LagSeconds          float64 `json:"lag_seconds"` // 0 once caught up
	// SourceLagSeconds is the read time minus the newest source updated_at
	// of the last non-empty batch (the metric's definition); absent before
	// a batch with updated-at values.
	SourceLagSeconds *float64   `json:"source_lag_seconds,omitempty"`
	RatePerSecond    float64    `json:"rate_per_second"`
	SourceTotal      int64      `json:"source_total"`
	Remaining        int64      `json:"remaining"`
	Position         *time.Time `json:"position,omitempty"` // newest source updated_at read
	LastError        string     `json:"last_error,omitempty"`
	LastErrorAt      *time.Time `json:"last_error_at,omitempty"`
	LastSuccess      *time.Time `json:"last_success,omitempty"` // last successful read
	Started          *time.Time `json:"started,omitempty"`
}

// ConnectorList is the answer of GET /v1/connectors.
type ConnectorList struct {
	Connectors []ConnectorStatus `json:"connectors"`
}

func (a *api) listConnectors(w http.ResponseWriter, r *http.Request) {
	list := a.opts.Connectors(r.Context())
	if list == nil {
		list = []ConnectorStatus{}
	}
	writeJSON(w, http.StatusOK, ConnectorList{Connectors: list})
}

// ConnectorsFunc lists the configured connectors' status.
type ConnectorsFunc func(ctx context.Context) []ConnectorStatus
