package store

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/testenv"
)

// A store filled under one identity model and opened under another
// reports the change; Rescore then leaves it as a store filled under the
// new model from the start would be: the same customers, the same golden
// ids, the same review queue.
func TestRescoreAfterModelChangeSQLite(t *testing.T) {
	dir := t.TempDir()
	rescoreScenario(t, DriverSQLite, filepath.Join(dir, "old.db"), filepath.Join(dir, "fresh.db"))
}

func TestRescoreAfterModelChangePostgresIntegration(t *testing.T) {
	rescoreScenario(t, DriverPostgres, testenv.Postgres(t), testenv.Postgres(t))
}

func rescoreScenario(t *testing.T, driver, dsn, freshDSN string) {
	ctx := context.Background()
	events := qualityPeople(150, 5)
	weighted := identity.DefaultFuzzy()
	weighted.Method = identity.MethodWeighted
	old := mustOpen(t, driver, dsn, Options{Identity: identity.Config{Fuzzy: weighted}})
	if changed, err := old.ModelChanged(ctx); err != nil || changed {
		t.Fatalf("empty store: model changed %v %v, want it to take the model as its own", changed, err)
	}
	for i := 0; i < len(events); i += 40 {
		mustApply(t, old, events[i:min(i+40, len(events))]...)
	}
	underWeights := snapshot(t, old)
	old.Close()

	s := mustOpen(t, driver, dsn, Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}})
	changed, err := s.ModelChanged(ctx)
	if err != nil || !changed {
		t.Fatalf("opened under another model: changed %v %v", changed, err)
	}
	var passes []string
	if _, err := s.Rescore(ctx, func(pass string, done, total int) {
		if done == total {
			passes = append(passes, pass)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(passes, []string{"links", "customers"}) {
		t.Errorf("passes %v", passes)
	}
	if changed, err := s.ModelChanged(ctx); err != nil || changed {
		t.Fatalf("after the rescore: changed %v %v", changed, err)
	}

	fresh := mustOpen(t, driver, freshDSN, Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}})
	mustApply(t, fresh, events...)
	got, want := snapshot(t, s), snapshot(t, fresh)
	if len(underWeights) == len(want) {
		t.Fatalf("both models found %d customers: the scenario does not tell whether anything was rescored", len(want))
	}
	gj, _ := json.Marshal(clusters(got))
	wj, _ := json.Marshal(clusters(want))
	if string(gj) != string(wj) {
		t.Errorf("rescored store has %d customers, a store filled under the new model %d; clusters differ", len(got), len(want))
	}
	rg, err := s.Reviews(ctx, "", "", 200)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := fresh.Reviews(ctx, "", "", 200)
	if err != nil {
		t.Fatal(err)
	}
	if len(rg) != len(rw) {
		t.Errorf("reviews after the rescore %d, in a store filled under the new model %d", len(rg), len(rw))
	}
}

// clusters is each golden id with its sorted source keys.
func clusters(views []hub.CustomerView) map[string][]string {
	out := map[string][]string{}
	for _, v := range views {
		for _, src := range v.Sources {
			out[v.ID] = append(out[v.ID], src.System+"/"+src.SourceEntity+"/"+src.SourceID)
		}
	}
	return out
}
