package main

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub/demo"
)

// TestMetricsScrapesDuringSync scrapes the real binary's /metrics the way
// Prometheus does, from the moment its listener accepts until every
// generated record is applied or dead-lettered, ten times a second: every
// scrape must answer 200 with the hub's metrics (issue #21: under load the
// first scrape returned only an error text, and a dashboard went blank
// exactly when it was needed). CRMHUB_E2E_SCRAPE_PEOPLE sets the size.
func TestMetricsScrapesDuringSync(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	people := 1500
	if v := os.Getenv("CRMHUB_E2E_SCRAPE_PEOPLE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("CRMHUB_E2E_SCRAPE_PEOPLE=%q: %v", v, err)
		}
		people = n
	}
	dir := t.TempDir()
	man, err := demo.Generate(context.Background(), demo.Options{Dir: dir, Seed: 11, People: people})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range man.Counts {
		total += n
	}

	p := startDemo(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	go func() {
		for ctx.Err() == nil {
			if c, err := net.DialTimeout("tcp", p.api, 100*time.Millisecond); err == nil {
				c.Close()
				close(ready)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	s := &scraper{url: "http://" + p.api + "/metrics"}
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		s.run(ctx, 100*time.Millisecond, ready)
	}()

	// The scraper's own figure of records taken drives the wait, so the
	// scrapes that count are the ones that saw the sync move.
	var sizes map[string]float64
	waitFor(t, "every record applied or dead-lettered", 5*time.Minute, func() bool {
		m := p.metrics(t)
		if m["crmhub_hub_consumed_total"]+m["crmhub_pipeline_dead_letters_total"] < float64(total) {
			return false
		}
		sizes = m
		return true
	})
	// The size gauges, counted from the store after the writes, must
	// come too: a scrape that left them out for good is no dashboard.
	waitFor(t, "the store's size gauges", time.Minute, func() bool {
		sizes = p.metrics(t)
		return sizes["crmhub_hub_golden_customers"] > 0
	})
	cancel()
	<-scraped

	n, fails, firstErr, slowest := s.result()
	t.Logf("%d records, %d scrapes, slowest %.0f ms, %v golden customers", total, n, slowest, sizes["crmhub_hub_golden_customers"])
	if fails > 0 {
		t.Errorf("%d of %d scrapes failed; the first: %s", fails, n, firstErr)
	}
	if n < 5 {
		t.Errorf("only %d scrapes during the sync: the test saw too little of it", n)
	}
	if s.processed() == 0 {
		t.Error("no scrape saw a record applied")
	}
}
