package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/testenv"
)

// TestDeployApplyScaling measures what a second hub instance adds on one
// PostgreSQL, the way deploy/ runs them (deploy/crmhub.yaml, `crmhub broker`
// with SCRAM): one instance reads the generated sources into the topics
// first, then 1 and then 2 applier instances (one consumer group each, a
// fresh schema each) apply the same topics from the start. It logs the
// records/s of each; it asserts only that everything was applied, never a
// speed. Off by default:
//
//	CRMHUB_E2E_SCALING_PEOPLE=5000 CRMHUB_REQUIRE_SERVICES=1 go test -run TestDeployApplyScaling -v -timeout 30m ./cmd/crmhub
func TestDeployApplyScaling(t *testing.T) {
	people, _ := strconv.Atoi(os.Getenv("CRMHUB_E2E_SCALING_PEOPLE"))
	if people == 0 {
		t.Skip("set CRMHUB_E2E_SCALING_PEOPLE to measure one hub instance against two")
	}
	f := newDeployFixture(t, 3, people)
	dir, man, pluginDir := f.dir, f.man, f.pluginDir
	connectors := f.connectors
	env := func(dsn string) []string { return f.env(dsn, "warn") }
	run := func(name, dsn string, conns any, group string) *hubProc {
		p := &hubProc{api: freeAddr(t)}
		cfg := filepath.Join(dir, name+".yaml")
		deployConfig(t, cfg, filepath.Join(dir, name), p.api, pluginDir, conns, group)
		p.cmd = exec.Command(binPath, "run", "--config", cfg)
		p.cmd.Env = env(dsn)
		p.start(t)
		return p
	}
	ready := func(p *hubProc) {
		waitFor(t, "hub ready", time.Minute, func() bool {
			code, _ := apiGet(p.api, "", "/readyz", nil)
			return code == http.StatusOK
		})
	}

	// Fill the topics: one instance reads every source (and applies into a
	// store of its own, not measured).
	total := man.Total()
	readerDSN := testenv.Postgres(t)
	r := run("reader", readerDSN, connectors, "fill")
	ready(r)
	waitFor(t, "the sources read and applied once", 20*time.Minute, func() bool {
		m := r.metrics(t)
		return m["crmhub_hub_consumed_total"]+m["crmhub_pipeline_dead_letters_total"] >= float64(total)
	})
	published := r.metrics(t)["crmhub_pipeline_records_published_total"]
	r.stop(t)
	// What a whole apply of these topics writes: the reader's store.
	want := storeCounts(t, readerDSN)
	t.Logf("topics hold %.0f canonical records from %d source records", published, total)

	for _, n := range []int{1, 2} {
		dsn := testenv.Postgres(t)
		group := fmt.Sprintf("scale-%d", n)
		// Started together, so that they join the group at about the same
		// time; the first still applies alone until the rebalance (a
		// heartbeat or two), which the per-instance counts show.
		var hubs []*hubProc
		for i := range n {
			hubs = append(hubs, run(fmt.Sprintf("%s-%d", group, i), dsn, []any{}, group))
		}
		for _, h := range hubs {
			ready(h)
		}
		consumed := func() (sum float64, each []float64) {
			for _, h := range hubs {
				v := h.metrics(t)["crmhub_hub_consumed_total"]
				sum += v
				each = append(each, v)
			}
			return sum, each
		}
		// Done when the store holds what the reader's does: the consumed
		// counters count a record redelivered after a rebalance twice.
		st, err := store.Open(context.Background(), "postgres", dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var start time.Time
		waitFor(t, group+" applied everything", 20*time.Minute, func() bool {
			sum, _ := consumed()
			if sum > 0 && start.IsZero() {
				start = time.Now()
			}
			c, err := st.Counts(context.Background())
			return err == nil && c.AppliedEvents >= want.AppliedEvents
		})
		st.Close()
		elapsed := time.Since(start)
		_, each := consumed()
		t.Logf("%d instance(s): %.0f records applied in %.1f s from the first one: %.0f records/s (consumed per instance, redeliveries included: %v)",
			n, published, elapsed.Seconds(), published/elapsed.Seconds(), each)
		for _, h := range hubs {
			h.stop(t)
		}
	}
}

func storeCounts(t *testing.T, dsn string) hub.Counts {
	t.Helper()
	st, err := store.Open(context.Background(), "postgres", dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
