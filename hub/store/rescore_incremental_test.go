package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/testenv"
)

// A rescore that re-clusters only the records whose links or verdicts the
// new model changed leaves the store as one that re-clusters every
// record: the same golden customers and ids, the same review queue with
// the same scores, the same links.
func TestRescoreIncrementalMatchesFullSQLite(t *testing.T) {
	t.Parallel() // long and self-contained: see "Parallel tests" in helpers_test.go
	dir := t.TempDir()
	rescoreIncrementalScenario(t, DriverSQLite, filepath.Join(dir, "inc.db"), filepath.Join(dir, "full.db"))
}

func TestRescoreIncrementalMatchesFullPostgresIntegration(t *testing.T) {
	t.Parallel() // long and self-contained: see "Parallel tests" in helpers_test.go
	rescoreIncrementalScenario(t, DriverPostgres, testenv.Postgres(t), testenv.Postgres(t))
}

func rescoreIncrementalScenario(t *testing.T, driver, incDSN, fullDSN string) {
	ctx := context.Background()
	events := qualityPeople(400, 11)
	opts := Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}}
	inc := mustOpen(t, driver, incDSN, opts)
	full := mustOpen(t, driver, fullDSN, opts)
	for _, s := range []*Store{inc, full} {
		// As a hub starts: an empty store takes the model as its own.
		if _, err := s.ModelChanged(ctx); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(events); i += 50 {
			mustApply(t, s, events[i:min(i+50, len(events))]...)
		}
	}
	before, _ := json.Marshal(clusters(snapshot(t, inc)))

	totals := func(into map[string]int) func(string, int, int) {
		return func(pass string, done, total int) {
			if done == total {
				into[pass] = total
			}
		}
	}
	compare := func(step string, incPasses, fullPasses map[string]int, before string) {
		t.Helper()
		for _, s := range []*Store{inc, full} {
			if changed, err := s.ModelChanged(ctx); err != nil || changed {
				t.Fatalf("%s: after the rescore: changed %v %v", step, changed, err)
			}
		}
		if fullPasses["customers"] != fullPasses["links"] {
			t.Errorf("%s: full rescore re-clustered %d of %d records", step, fullPasses["customers"], fullPasses["links"])
		}
		if n := incPasses["customers"]; n == 0 || n >= incPasses["links"] {
			t.Errorf("%s: incremental rescore re-clustered %d of %d records: want some, not all", step, n, incPasses["links"])
		}
		got, want := mustJSON(t, snapshot(t, inc)), mustJSON(t, snapshot(t, full))
		if string(got) != string(want) {
			t.Errorf("%s: golden customers differ between the incremental and the full rescore", step)
		}
		after, _ := json.Marshal(clusters(snapshot(t, inc)))
		t.Logf("%s: re-clustered %d of %d records; clusters changed: %v", step, incPasses["customers"], incPasses["links"],
			string(after) != before)
		for _, table := range []string{"fuzzy_links", "review_candidates"} {
			g, w := tableRows(t, inc, table), tableRows(t, full, table)
			if len(w) == 0 {
				t.Errorf("%s: %s empty: the scenario says nothing about it", step, table)
			}
			if gj, wj := mustJSON(t, g), mustJSON(t, w); string(gj) != string(wj) {
				t.Errorf("%s: %s: %d rows after the incremental rescore, %d after the full one, or they differ", step, table, len(g), len(w))
			}
		}
		ri, err := inc.Reviews(ctx, "", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		rf, err := full.Reviews(ctx, "", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if gj, wj := mustJSON(t, ri), mustJSON(t, rf); string(gj) != string(wj) {
			t.Errorf("%s: review queues differ: %d and %d items", step, len(ri), len(rf))
		}
	}

	// From the defaults to the store's estimate.
	incPasses, fullPasses := map[string]int{}, map[string]int{}
	res, err := inc.Reestimate(ctx, EstimateOptions{MinRecords: 300, Progress: totals(incPasses)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Estimated || !res.Rescored {
		t.Fatalf("estimated %v rescored %v on %d persons", res.Estimated, res.Rescored, res.Persons)
	}
	full.UseModel(res.Model.Params)
	if _, err := full.rescoreFrom(ctx, nil, totals(fullPasses)); err != nil {
		t.Fatal(err)
	}
	compare("defaults to the estimate", incPasses, fullPasses, string(before))

	// From the estimate (a stored version) to a model that doubts every
	// pair a thousand times more: joins become reviews, clusters split.
	doubt := *res.Model.Params
	doubt.Prior /= 1000
	before, _ = json.Marshal(clusters(snapshot(t, inc)))
	incPasses, fullPasses = map[string]int{}, map[string]int{}
	inc.UseModel(&doubt)
	if _, err := inc.Rescore(ctx, totals(incPasses)); err != nil {
		t.Fatal(err)
	}
	full.UseModel(&doubt)
	if _, err := full.rescoreFrom(ctx, nil, totals(fullPasses)); err != nil {
		t.Fatal(err)
	}
	compare("the estimate to a doubting model", incPasses, fullPasses, string(before))
	if after, _ := json.Marshal(clusters(snapshot(t, inc))); string(after) == string(before) {
		t.Errorf("the doubting model changed no customer: the scenario does not tell whether the changed ones were found")
	}

	// A rescore cut short leaves no model the store could take its links
	// for: the next one re-clusters everything.
	if err := inc.markModel(ctx, rescoringFingerprint); err != nil {
		t.Fatal(err)
	}
	if old, err := inc.scoredWith(ctx); err != nil || old != nil {
		t.Errorf("after an unfinished rescore: scored with %v %v, want none", old, err)
	}
	if changed, err := inc.ModelChanged(ctx); err != nil || !changed {
		t.Errorf("after an unfinished rescore: changed %v %v", changed, err)
	}
}

// tableRows is every row of a two-key, score table, ordered.
func tableRows(t *testing.T, s *Store, table string) [][3]string {
	t.Helper()
	rows, err := s.rdb.QueryContext(context.Background(), `SELECT a, b, CAST(score AS TEXT) FROM `+table+` ORDER BY a, b`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][3]string
	for rows.Next() {
		var r [3]string
		var sc sql.NullString
		if err := rows.Scan(&r[0], &r[1], &sc); err != nil {
			t.Fatal(err)
		}
		r[2] = sc.String
		out = append(out, r)
	}
	return out
}
