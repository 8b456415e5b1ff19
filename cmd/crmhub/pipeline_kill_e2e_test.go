package main

import (
	"context"
	"net/url"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/pipeline"
	"github.com/crmhub/crmhub/hub/testenv"
)

// TestConnectorKillWhileBatchesInFlight kills (SIGKILL) a `--role
// connectors` process while batches are being read, mapped and published
// at once, restarts it on the same data directory, and requires every row
// of the table on the topic. Duplicates are allowed where the design
// allows them and nowhere else: records Kafka acknowledged whose position
// was not saved before the kill are published again after the restart (the
// hub skips them by event id), at most MaxUnsaved batches, since a batch in
// flight counts against MaxUnsaved from the moment it is read.
func TestConnectorKillWhileBatchesInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	// 12,000 rows: killed at a tenth, 108 batches remain for the restart,
	// far more than MaxUnsaved. The broker runs in this (race-built)
	// process, where 30,000 rows took a minute and a half.
	const rows, batch = 12000, 100
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dsn := testenv.Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	table, err := ensureBenchTable(ctx, dsn, u.Query().Get("search_path"), rows, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]
	dir := t.TempDir()
	cfg, err := writePipelineConfig(dir, broker, freeAddr(t), table, pipelineOpts{dsn: dsn, batch: batch, logLevel: "info"})
	if err != nil {
		t.Fatal(err)
	}
	topics := hub.Topics{Prefix: benchTopicPrefix}
	counter := newTopicCounter(broker, []string{topics.Canonical("customer"), topics.DeadLetter()})
	if err := counter.ensureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, stopCounter := context.WithCancel(ctx)
	var wg sync.WaitGroup
	counter.start(cctx, &wg)
	defer func() { stopCounter(); wg.Wait() }()

	first := &hubProc{}
	first.cmd = execHub(cfg)
	first.start(t)
	select {
	case <-counter.doneCh(rows / 10):
	case <-ctx.Done():
		t.Fatalf("no records on the topic: %v", ctx.Err())
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	atKill := counter.total()
	if atKill >= rows {
		t.Fatalf("every row was on the topic before the kill (%d): nothing was in flight; make the table larger", atKill)
	}
	t.Logf("killed with %d of %d records on the topic", atKill, rows)

	second := &hubProc{}
	second.cmd = execHub(cfg)
	second.start(t)
	// Wait until the topic stops growing: every row at least once and
	// late duplicates counted, or rows lost for good (still after 15 s).
	for n, still := -1, 0; ; {
		time.Sleep(time.Second)
		if m := counter.total(); m != n {
			n, still = m, 0
			continue
		}
		still++
		if n >= rows && still >= 2 || still >= 15 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d records on the topic after the restart: %v", n, rows, ctx.Err())
		}
	}
	second.stop(t)
	stopCounter()
	wg.Wait()

	msgs, keys, err := counter.readBack(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if keys != rows {
		t.Errorf("%d distinct source records on the topics, want every one of the %d rows", keys, rows)
	}
	dups := msgs - keys
	t.Logf("%d messages, %d rows, %d published again after the restart", msgs, keys, dups)
	if dups > pipeline.MaxUnsaved*batch {
		t.Errorf("%d records published twice: more than the MaxUnsaved (%d) batches of %d whose position may be unsaved at a kill",
			dups, pipeline.MaxUnsaved, batch)
	}
}

func execHub(cfg string) *exec.Cmd {
	return exec.Command(binPath, "run", "--config", cfg, "--role", "connectors")
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s", b)
	return len(b), nil
}
