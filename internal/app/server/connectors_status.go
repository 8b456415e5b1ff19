package server

import (
	"context"
	"time"

	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/httpapi"
)

// connectorStatus serves GET /v1/connectors: every configured instance in
// file order, with its runner's state and its source's progress.
func (s *Server) connectorStatus(context.Context) []httpapi.ConnectorStatus {
	states := s.States()
	progress := map[string]httpapi.ConnectorStatus{}
	for _, p := range s.metrics.Progress.Snapshot(s.metrics) {
		progress[p.Connector] = httpapi.ConnectorStatus{
			RecordsRead: p.Read, RecordsMapped: p.Mapped, RecordsDeadLettered: p.DeadLettered,
			CaughtUp: p.CaughtUp, LagSeconds: p.LagSeconds, RatePerSecond: p.RatePerSec,
			SourceTotal: p.Total, Remaining: p.Remaining, Position: timePtr(p.Position),
			LastError: p.LastError, LastErrorAt: timePtr(p.LastErrorAt), LastSuccess: timePtr(p.LastSuccess),
			Started: timePtr(p.Started),
		}
	}
	out := make([]httpapi.ConnectorStatus, 0, len(s.cfg.Connectors))
	for _, c := range s.cfg.Connectors {
		st, ok := progress[c.Name]
		if !ok {
			st = httpapi.ConnectorStatus{SourceTotal: -1, Remaining: -1}
		}
		st.Name, st.Plugin, st.System = c.Name, c.Plugin, c.System
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
