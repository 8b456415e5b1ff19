package server

import (
	"context"
	"time"

	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/httpapi"
	"github.com/crmhub/crmhub/plugins/host"
)

// connectorStatus serves GET /v1/connectors: every configured instance in
// file order, with its runner's state and its source's progress. The
// figures are those /metrics serves (see httpapi.ConnectorStatus).
func (s *Server) connectorStatus(context.Context) []httpapi.ConnectorStatus {
	states := s.States()
	type progress struct {
		st          httpapi.ConnectorStatus
		lastSuccess time.Time // the runner's, on the clock of LastErrorAt
		lastErrorAt time.Time
	}
	byName := map[string]progress{}
	for _, p := range s.metrics.Progress.Snapshot(s.metrics) {
		byName[p.Connector] = progress{st: httpapi.ConnectorStatus{
			RecordsRead: p.Read, RecordsMapped: p.Mapped, RecordsDeadLettered: p.DeadLettered,
			CaughtUp: p.CaughtUp, LagSeconds: p.LagSeconds, RatePerSecond: p.RatePerSec,
			SourceTotal: p.Total, Remaining: p.Remaining, Position: timePtr(p.Position),
			LastError: p.LastError, LastErrorAt: timePtr(p.LastErrorAt), LastSuccess: timePtr(p.LastSuccess),
			Started: timePtr(p.Started),
		}, lastSuccess: p.LastSuccess, lastErrorAt: p.LastErrorAt}
	}
	health := map[string]host.InstanceHealth{}
	if s.host != nil {
		for _, h := range s.host.Health() {
			health[h.Instance] = h
		}
	}
	out := make([]httpapi.ConnectorStatus, 0, len(s.cfg.Connectors))
	for _, c := range s.cfg.Connectors {
		p, ok := byName[c.Name]
		st := p.st
		if !ok {
			st = httpapi.ConnectorStatus{SourceTotal: -1, Remaining: -1}
		}
		st.Name, st.Plugin, st.System = c.Name, c.Plugin, c.System
		if lag, ok := s.metrics.SourceLagOf(c.Name); ok {
			st.SourceLagSeconds = &lag
		}
		h, hok := health[c.Name]
		if hok && !h.LastSuccess.IsZero() {
			// The value of crmhub_connector_last_success_timestamp_seconds.
			st.LastSuccess = &h.LastSuccess
		}
		rs, ok := states[c.Name]
		switch {
		case c.Disabled:
			st.State = "disabled"
		case !s.cfg.Runs(config.RoleConnectors):
			// The runners and their progress live on the instances with
			// the connectors role; ask one of those.
			st.State = "elsewhere"
		case ok:
			st.State, st.Error = rs.State, rs.Error
		default:
			st.State = "starting"
		}
		if st.State == "running" {
			switch {
			case hok && h.State != host.StateRunning:
				// The plugin process crashed: restarting, or failed for
				// good once its restarts are used up.
				st.State, st.Error = string(h.State), h.LastError
			case !p.lastErrorAt.IsZero() && p.lastErrorAt.After(p.lastSuccess):
				// No read succeeded since the last error: the source is
				// away and the runner retries with backoff. The first
				// read that succeeds makes it running again.
				st.State, st.Error = "retrying", p.st.LastError
			}
		}
		out = append(out, st)
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
