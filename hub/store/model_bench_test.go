package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub/identity"
)

// BenchmarkGrowingStore is a store that keeps growing with quiet moments
// between the batches: it holds CRMHUB_BENCH_PEOPLE generated people
// (default 4,000; their records shuffled), then takes ten more batches of
// a fortieth of them each, and after every batch the hub's idle estimate
// runs (Reestimate, as the model loop calls it). It reports per quiet
// moment how often the model's fingerprint changed (a rescore), how many
// links were scored again and customers re-clustered, and the time the
// estimate and the rescore took beside the time the batch's apply took.
// The figures of README's "a store that keeps growing" come from
//
//	CRMHUB_BENCH_PEOPLE=4000 go test ./hub/store -run '^$' -bench GrowingStore -benchtime 1x
func BenchmarkGrowingStore(b *testing.B) {
	people := 4000
	if v, err := strconv.Atoi(os.Getenv("CRMHUB_BENCH_PEOPLE")); err == nil && v > 0 {
		people = v
	}
	const steps = 10
	grow := people / 40
	ctx := context.Background()
	evs := qualityPeople(people+steps*grow, 5)
	// qualityPeople keeps a person's copies together: a store fills in
	// no such order.
	rand.New(rand.NewPCG(5, 9)).Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	first := len(evs) * people / (people + steps*grow)
	for range b.N {
		s := MustOpenSQLite(b, Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}})
		applyChunked(b, s, evs[:first])
		if r, err := s.Reestimate(ctx, EstimateOptions{}); err != nil || r.Model == nil {
			b.Fatalf("first estimate on %d persons: %v", r.Persons, err)
		}
		var (
			rescores, relinked, reclustered int
			apply, estimate, rescore        time.Duration
		)
		step := (len(evs) - first) / steps
		for i := range steps {
			batch := evs[first+i*step : min(first+(i+1)*step, len(evs))]
			if i == steps-1 {
				batch = evs[first+i*step:]
			}
			before, err := s.LatestModel(ctx)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			applyChunked(b, s, batch)
			took := time.Since(start)
			apply += took
			r, err := s.Reestimate(ctx, EstimateOptions{})
			if err != nil {
				b.Fatal(err)
			}
			estimate += r.Took.Estimate
			if r.Estimated {
				b.Logf("quiet moment %d: the model moved in %s", i+1, modelDelta(before.Params, r.Model.Params))
			}
			if r.Rescored {
				rescores++
				relinked += r.Took.Relinked
				reclustered += r.Took.Reclustered
				rescore += r.Took.Links + r.Took.Customers
			}
			b.Logf("quiet moment %d: %d persons sampled, estimated %v, rescored %v (%d records' links scored, %d customers re-clustered: %d golden customers created, %d merged), apply %v, estimate %v, rescore %v",
				i+1, r.Persons, r.Estimated, r.Rescored, r.Took.Relinked, r.Took.Reclustered, r.Rescore.GoldenCreated, r.Rescore.GoldenMerged,
				took.Round(time.Millisecond), r.Took.Estimate.Round(time.Millisecond), (r.Took.Links + r.Took.Customers).Round(time.Millisecond))
		}
		b.ReportMetric(float64(rescores)/steps, "rescores/quiet")
		b.ReportMetric(float64(relinked)/steps, "relinked/quiet")
		b.ReportMetric(float64(reclustered)/steps, "reclustered/quiet")
		b.ReportMetric(apply.Seconds()/steps, "apply-s/quiet")
		b.ReportMetric(estimate.Seconds()/steps, "estimate-s/quiet")
		b.ReportMetric(rescore.Seconds()/steps, "rescore-s/quiet")
		b.ReportMetric(float64(step), "records/batch")
	}
}

// modelDelta says which parts of a person model differ between two
// estimates: the prior, levels' m or u, name frequencies.
func modelDelta(a, b *identity.Params) string {
	var out []string
	if a.Prior != b.Prior {
		out = append(out, fmt.Sprintf("prior %g -> %g", a.Prior, b.Prior))
	}
	levels := 0
	for comp, ls := range b.Levels {
		for l, mu := range ls {
			if a.Levels[comp][l] != mu {
				levels++
			}
		}
	}
	names, all := 0, 0
	for comp, fs := range b.TF {
		for n, f := range fs {
			all++
			if a.TF[comp][n] != f {
				names++
			}
		}
		for n := range a.TF[comp] {
			if _, ok := fs[n]; !ok {
				names++
			}
		}
	}
	twins := a.TwinShare == nil != (b.TwinShare == nil) || a.TwinShare != nil && *a.TwinShare != *b.TwinShare
	out = append(out, fmt.Sprintf("%d levels' m or u, %d of %d name frequencies, twin share %v", levels, names, all, twins))
	return strings.Join(out, ", ")
}
