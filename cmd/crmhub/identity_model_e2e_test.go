package main

import (
	"context"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/internal/app/demohub"
	"github.com/crmhub/crmhub/internal/app/server"
)

// A hub left alone with estimate: auto estimates its person model once it
// holds the minimum of person records and has been idle, stores it,
// rescores the links with it and shows it in its metrics: no command and
// no restart.
func TestHubEstimatesModelWhenIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	t.Parallel() // CPU-bound under -race (the estimate, about 20x slower there): runs beside TestWritebackTwoWay, which mostly waits
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if _, err := demo.Generate(ctx, demo.Options{Dir: dir, Seed: 3, People: 300}); err != nil {
		t.Fatal(err)
	}
	r, err := demohub.Start(ctx, demohub.RunOptions{Dir: dir, InProcess: true, Logger: newLogger(config.Log{Level: "warn"}),
		Configure: func(c *config.Config) {
			p := &c.Identity.Fuzzy.People
			p.Estimate, p.EstimateMinRecords, p.EstimateIdle = config.EstimateAuto, 200, config.Duration(time.Second)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	st := r.Server.Store()
	waitFor(t, "the idle hub to estimate its person model", 3*time.Minute, func() bool {
		m, err := st.LatestModel(ctx)
		return err == nil && m != nil &&
			gaugeValue(t, r.Server, "crmhub_identity_model_version") == float64(m.Version)
	})
	m, err := st.LatestModel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Origin != "auto" || m.Records < 200 {
		t.Errorf("model version %d origin %s on %d records", m.Version, m.Origin, m.Records)
	}
	// The loop may have estimated before the last records came: settle
	// (what it does when idle next), then nothing is left to do, and the
	// links are scored with the model the store shows.
	if _, err := r.Server.SettleIdentityModel(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := r.Server.SettleIdentityModel(ctx)
	if err != nil || res.Estimated || res.Rescored || res.Model == nil {
		t.Fatalf("settle with nothing new: %+v %v", res, err)
	}
	if res.Model.Fingerprint != st.Fingerprint() {
		t.Errorf("model version %d fingerprint %s, the store uses %s", res.Model.Version, res.Model.Fingerprint, st.Fingerprint())
	}
	if changed, err := st.ModelChanged(ctx); err != nil || changed {
		t.Errorf("links not scored with the estimated model: changed %v %v", changed, err)
	}
	for name, want := range map[string]int{"crmhub_identity_model_version": res.Model.Version, "crmhub_identity_model_records": res.Model.Records} {
		if got := gaugeValue(t, r.Server, name); got != float64(want) {
			t.Errorf("%s %v, want %d", name, got, want)
		}
	}
}

// gaugeValue reads one unlabelled gauge from the hub's registry.
func gaugeValue(t *testing.T, srv *server.Server, name string) float64 {
	t.Helper()
	fams, err := srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
