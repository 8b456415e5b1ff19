package store

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/quality"
	"github.com/crmhub/crmhub/hub/testenv"
)

// The automatic estimation's promise (issue 15): at quiescence the model
// is the estimate of the current record set and the links are scored with
// it, so stores fed the same records in different orders, one of them
// estimating half-way through and one seeing a replay of records it
// already has, end with the same model and the same golden customers.
func TestReestimateOrderIndependentSQLite(t *testing.T) {
	t.Parallel() // long and self-contained: see "Parallel tests" in helpers_test.go
	dir := t.TempDir()
	reestimateScenario(t, DriverSQLite, func(name string) string { return filepath.Join(dir, name+".db") })
}

func TestReestimateOrderIndependentPostgresIntegration(t *testing.T) {
	t.Parallel() // long and self-contained: see "Parallel tests" in helpers_test.go
	reestimateScenario(t, DriverPostgres, func(string) string { return testenv.Postgres(t) })
}

func reestimateScenario(t *testing.T, driver string, dsn func(name string) string) {
	ctx := context.Background()
	events := qualityPeople(400, 11)
	const minRecords = 300
	if len(events) < 2*minRecords {
		t.Fatalf("%d generated records: want twice the minimum %d", len(events), minRecords)
	}
	shuffled := append([]hub.Envelope(nil), events...)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	replayed := append(append([]hub.Envelope(nil), events...), events[:200]...)

	opt := EstimateOptions{MinRecords: minRecords}
	feed := func(s *Store, evs []hub.Envelope, batch int, midway bool) EstimateResult {
		t.Helper()
		for i := 0; i < len(evs); i += batch {
			mustApply(t, s, evs[i:min(i+batch, len(evs))]...)
			if midway && i < len(evs)/2 && i+batch >= len(evs)/2 {
				// An idle moment half-way: a model of half the records,
				// which the end must not remember.
				r, err := s.Reestimate(ctx, opt)
				if err != nil {
					t.Fatal(err)
				}
				if !r.Estimated || !r.Rescored {
					t.Fatalf("half-way estimate on %d persons: estimated %v rescored %v", r.Persons, r.Estimated, r.Rescored)
				}
			}
		}
		r, err := s.Reestimate(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	defaults := identity.New(identity.Config{Fuzzy: identity.DefaultFuzzy()}).Fingerprint()
	type run struct {
		name string
		s    *Store
		res  EstimateResult
	}
	var runs []run
	for _, c := range []struct {
		name   string
		evs    []hub.Envelope
		batch  int
		midway bool
	}{
		{"in order, estimated half-way", events, 50, true},
		{"shuffled", shuffled, 37, false},
		{"with a replay", replayed, 64, false},
	} {
		s := mustOpen(t, driver, dsn(strings.Fields(c.name)[0]), Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}})
		r := feed(s, c.evs, c.batch, c.midway)
		if r.Model == nil || !r.Estimated {
			t.Fatalf("%s: no model estimated from %d persons", c.name, r.Persons)
		}
		if s.Fingerprint() == defaults || s.Fingerprint() != r.Model.Fingerprint {
			t.Fatalf("%s: store uses fingerprint %s, the estimate's is %s (defaults %s)", c.name, s.Fingerprint(), r.Model.Fingerprint, defaults)
		}
		runs = append(runs, run{c.name, s, r})
	}
	want := runs[0]
	wantJSON, _ := json.Marshal(clusters(snapshot(t, want.s)))
	for _, r := range runs[1:] {
		if r.res.Model.Digest != want.res.Model.Digest || r.res.Persons != want.res.Persons {
			t.Errorf("%s: record set %s of %d persons, %s: %s of %d", r.name, r.res.Model.Digest, r.res.Persons,
				want.name, want.res.Model.Digest, want.res.Persons)
		}
		if r.s.Fingerprint() != want.s.Fingerprint() {
			t.Errorf("%s: model fingerprint %s, %s: %s", r.name, r.s.Fingerprint(), want.name, want.s.Fingerprint())
		}
		got, _ := json.Marshal(clusters(snapshot(t, r.s)))
		if string(got) != string(wantJSON) {
			t.Errorf("%s: golden customers differ from %s's", r.name, want.name)
		}
	}
	if want.res.Model.Version != 2 {
		t.Errorf("estimated half-way and at the end: version %d, want 2", want.res.Model.Version)
	}

	// Idle again with nothing new: the digest matches, nothing is
	// estimated or rescored.
	again, err := want.s.Reestimate(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	if again.Estimated || again.Rescored || again.Model.Version != want.res.Model.Version {
		t.Errorf("no change: estimated %v rescored %v version %d", again.Estimated, again.Rescored, again.Model.Version)
	}

	// A store reopened takes the stored model as its own, without a
	// rescore: the links were scored with it.
	latest, err := want.s.LatestModel(ctx)
	if err != nil || latest == nil {
		t.Fatalf("latest model %v %v", latest, err)
	}
	if latest.Records != want.res.Persons || latest.Origin != "auto" || latest.Params.Source == "" {
		t.Errorf("stored model: %d records, origin %q, source %q", latest.Records, latest.Origin, latest.Params.Source)
	}
	fresh := identity.New(identity.Config{Fuzzy: identity.DefaultFuzzy()})
	want.s.UseModel(nil)
	if want.s.Fingerprint() != fresh.Fingerprint() {
		t.Fatalf("UseModel(nil): fingerprint %s, want the configured %s", want.s.Fingerprint(), fresh.Fingerprint())
	}
	want.s.UseModel(latest.Params)
	if changed, err := want.s.ModelChanged(ctx); err != nil || changed {
		t.Errorf("stored model in use again: changed %v %v", changed, err)
	}
}

// Too few person records: nothing is estimated and the configured model
// stays.
func TestReestimateTooFew(t *testing.T) {
	s := MustOpenSQLite(t, Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}})
	var evs []hub.Envelope
	for i, r := range quality.Generate(60, 2, false, false) {
		sys, _, _ := strings.Cut(r.Key, "/")
		evs = append(evs, cust(sys, r.Key, i, r.Customer))
	}
	mustApply(t, s, evs...)
	before := s.Fingerprint()
	r, err := s.Reestimate(context.Background(), EstimateOptions{MinRecords: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != nil || r.Estimated || r.Persons != len(evs) || s.Fingerprint() != before {
		t.Errorf("%d persons under the minimum: model %v estimated %v persons %d", len(evs), r.Model, r.Estimated, r.Persons)
	}
}

// A model stored by an older matcher, before a level existed, is estimated
// again on the same records: it would weigh the new level 0 (the nickname
// level came with matcher revision 8).
func TestReestimateModelLackingALevel(t *testing.T) {
	t.Parallel() // an estimate on a few hundred records: see "Parallel tests" in helpers_test.go
	ctx := context.Background()
	s := MustOpenSQLite(t, Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}})
	mustApply(t, s, qualityPeople(400, 11)...)
	opt := EstimateOptions{MinRecords: 300}
	first, err := s.Reestimate(ctx, opt)
	if err != nil || first.Model == nil || !first.Estimated {
		t.Fatalf("first estimate: %+v %v", first, err)
	}
	old := first.Model.Params
	data, _ := json.Marshal(old)
	var stale identity.Params
	if err := json.Unmarshal(data, &stale); err != nil {
		t.Fatal(err)
	}
	delete(stale.Levels[identity.CompGiven], identity.LevelNickname)
	if _, err := s.SaveModel(ctx, Model{Records: first.Model.Records, Digest: first.Model.Digest, Origin: "auto",
		Params: &stale, Fingerprint: first.Model.Fingerprint}); err != nil {
		t.Fatal(err)
	}
	again, err := s.Reestimate(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Estimated || again.Model == nil {
		t.Fatalf("the same records, the stored model without the nickname level: estimated %v", again.Estimated)
	}
	if _, ok := again.Model.Params.Levels[identity.CompGiven][identity.LevelNickname]; !ok {
		t.Error("the new estimate lacks the nickname level too")
	}
	if still, err := s.Reestimate(ctx, opt); err != nil || still.Estimated {
		t.Errorf("nothing new after that: estimated %v %v", still.Estimated, err)
	}
}
