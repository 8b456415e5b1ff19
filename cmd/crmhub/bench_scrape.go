package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// scraper scrapes a hub's /metrics the way Prometheus does, from the
// moment the hub is ready, and keeps what a dashboard would have seen:
// how many scrapes failed, the slowest one, and the sum of the applier's
// counters of records taken (applied or skipped).
type scraper struct {
	url string

	mu       sync.Mutex
	n, fails int
	firstErr string
	slowest  time.Duration
	taken    float64
}

// run scrapes every interval once ready is closed, until ctx ends.
func (s *scraper) run(ctx context.Context, every time.Duration, ready <-chan struct{}) {
	select {
	case <-ready:
	case <-ctx.Done():
		return
	}
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s.scrape(ctx, client)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *scraper) scrape(ctx context.Context, client *http.Client) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
		}
	}
	took := time.Since(t0)
	if ctx.Err() != nil {
		return // stopped mid-scrape: not the hub's failure
	}
	taken, perr := takenOf(body)
	if err == nil {
		err = perr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	s.slowest = max(s.slowest, took)
	if err != nil {
		s.fails++
		if s.firstErr == "" {
			s.firstErr = err.Error()
		}
		return
	}
	s.taken = max(s.taken, taken)
}

// takenOf sums crmhub_hub_applied_total and crmhub_hub_skipped_total over
// their labels (absent before the first apply); a scrape without any of
// the hub's own metrics is a failed one.
func takenOf(body []byte) (float64, error) {
	var sum float64
	found := bytes.HasPrefix(body, []byte("crmhub_")) || bytes.Contains(body, []byte("\ncrmhub_"))
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "crmhub_hub_applied_total") && !strings.HasPrefix(line, "crmhub_hub_skipped_total") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		sum += v
	}
	if !found {
		return 0, fmt.Errorf("no crmhub_ metrics in a %d-byte scrape", len(body))
	}
	return sum, nil
}

func (s *scraper) processed() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taken
}

func (s *scraper) result() (n, fails int, firstErr string, slowestMS float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.fails, s.firstErr, float64(s.slowest.Microseconds()) / 1000
}
