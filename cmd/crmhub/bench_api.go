package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/demo"
	"github.com/crmhub/crmhub/internal/app/demohub"
)

// apiBenchOpts are the flags of `crmhub bench api`.
type apiBenchOpts struct {
	people   int
	seed     int64
	dir      string
	clients  []int
	duration time.Duration
	json     bool
	timeout  time.Duration
	profile  string
}

func newBenchAPICmd() *cobra.Command {
	var o apiBenchOpts
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Load the HTTP API of a synced hub and report requests/s and latency per kind of request",
		Long: `Generate the demo's systems with --people customers, sync them into a hub (SQLite store, as the
demo runs), then for each kind of request (GET by id, search by e-mail, by phone, by name prefix,
/v1/changes) run each number of --clients keep-alive clients for --duration and print requests/s,
p50, p99 and the CPU per request. The runs begin once the hub is idle after the sync (the customer
value recompute finished). The machine's other load counts: run it on a quiet machine.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := runAPIBench(cmd.Context(), o)
			if err != nil {
				return err
			}
			if o.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return printAPIBench(cmd.OutOrStdout(), res)
		},
	}
	cmd.Flags().IntVar(&o.people, "people", 20000, "customers to generate and sync")
	cmd.Flags().Int64Var(&o.seed, "seed", 1, "generator seed")
	cmd.Flags().StringVar(&o.dir, "dir", "", "work directory (default: a temporary one, removed after)")
	cmd.Flags().IntSliceVar(&o.clients, "clients", []int{16, 64}, "concurrent clients, one run per value")
	cmd.Flags().DurationVar(&o.duration, "duration", 5*time.Second, "length of each run")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as JSON")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	cmd.Flags().StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the load runs (hub and clients, one process) to this file")
	return cmd
}

// apiBenchRow is one kind of request at one number of clients.
type apiBenchRow struct {
	Kind      string  `json:"kind"`
	Clients   int     `json:"clients"`
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	PerSecond float64 `json:"requests_per_second"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	AvgBytes  int64   `json:"avg_response_bytes"`
	// CPUusPerRequest is the process's CPU (hub and load clients, which
	// share it) per request answered, in microseconds; 0 where the
	// platform does not say.
	CPUusPerRequest float64 `json:"cpu_us_per_request"`
}

type apiBenchResult struct {
	People   int     `json:"people"`
	Golden   int64   `json:"golden_customers"`
	SyncSecs float64 `json:"sync_seconds"`
	// IdleWaitSecs is how long the hub worked on after the sync (value
	// recompute) before the load runs began.
	IdleWaitSecs float64       `json:"idle_wait_seconds"`
	Durations    string        `json:"run_length"`
	Rows         []apiBenchRow `json:"runs"`
}

func runAPIBench(ctx context.Context, o apiBenchOpts) (*apiBenchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "crmhub-bench-api")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if _, err := demo.Generate(ctx, demo.Options{Dir: dir, Seed: o.seed, People: o.people}); err != nil {
		return nil, err
	}
	start := time.Now()
	r, err := demohub.Start(ctx, demohub.RunOptions{Dir: dir, Logger: newLogger(config.Log{Level: "warn"})})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if err := r.WaitSynced(ctx); err != nil {
		return nil, fmt.Errorf("bench api: %w", err)
	}
	res := &apiBenchResult{People: o.people, SyncSecs: time.Since(start).Seconds(), Durations: o.duration.String()}
	// Synced is not idle: the deferred customer-value recompute works
	// through the backlog the sync left for a while after, and took a
	// third of the CPU of the first load runs. Wait for it, so the runs
	// measure the API with the sync idle.
	idle, err := waitIdle(ctx, 2*time.Second, 0.15, 10*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("bench api: %w", err)
	}
	res.IdleWaitSecs = idle.Seconds()
	counts, err := r.Server.Store().Counts(ctx)
	if err != nil {
		return nil, err
	}
	res.Golden = counts.GoldenCustomers

	// Samples from the store: ids, e-mails, phones, three-letter name
	// prefixes, so every request finds something.
	var ids, emails, phones, prefixes []string
	after := ""
	for len(ids) < 5000 {
		page, err := r.Server.Store().FindCustomers(ctx, hub.CustomerFilter{Limit: 500, After: after})
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, v := range page {
			ids = append(ids, v.ID)
			if len(v.Customer.Emails) > 0 {
				emails = append(emails, v.Customer.Emails[0])
			}
			if len(v.Customer.Phones) > 0 {
				phones = append(phones, v.Customer.Phones[0])
			}
			if n := []rune(strings.ToLower(v.Customer.FamilyName)); len(n) >= 3 {
				prefixes = append(prefixes, string(n[:3]))
			}
		}
		after = page[len(page)-1].ID
	}
	if len(ids) == 0 || len(emails) == 0 || len(phones) == 0 || len(prefixes) == 0 {
		return nil, fmt.Errorf("bench api: the synced store has too little to sample (%d ids, %d e-mails, %d phones, %d names)", len(ids), len(emails), len(phones), len(prefixes))
	}
	stopProfile, err := startCPUProfile(o.profile)
	if err != nil {
		return nil, err
	}
	defer stopProfile()
	base := "http://" + r.Server.HTTPAddr()
	only := os.Getenv("CRMHUB_BENCH_API_ONLY") // a substring of one kind, to profile it alone
	kinds := []struct {
		name string
		url  func(i int) string
	}{
		{"GET /v1/customers/{id}", func(i int) string { return base + "/v1/customers/" + ids[i%len(ids)] }},
		{"search by e-mail", func(i int) string { return base + "/v1/customers?email=" + url.QueryEscape(emails[i%len(emails)]) }},
		{"search by phone", func(i int) string { return base + "/v1/customers?phone=" + url.QueryEscape(phones[i%len(phones)]) }},
		{"search by name prefix (limit 50)", func(i int) string {
			return base + "/v1/customers?limit=50&name=" + url.QueryEscape(prefixes[i%len(prefixes)])
		}},
		{"/v1/changes?limit=200", func(i int) string {
			return fmt.Sprintf("%s/v1/changes?limit=200&since=%d", base, (i*37)%max(1, int(res.Golden)))
		}},
	}
	for _, c := range o.clients {
		for _, k := range kinds {
			if only != "" && !strings.Contains(k.name, only) {
				continue
			}
			row, err := loadAPI(ctx, k.url, c, o.duration)
			if err != nil {
				return nil, err
			}
			row.Kind = k.name
			res.Rows = append(res.Rows, row)
		}
	}
	return res, nil
}

// waitIdle waits until the process has used less than share of one core
// in each of three windows in a row, and returns how long it waited: one
// quiet window fell between two rounds of the value recompute, which then
// ran through the load runs. It gives up (without error) after limit;
// where the platform reports no CPU time it returns at once.
func waitIdle(ctx context.Context, window time.Duration, share float64, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	quiet := 0
	for quiet < 3 && time.Since(start) < limit {
		cpu0 := processCPU()
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(window):
		}
		quiet++
		if used := processCPU() - cpu0; used > time.Duration(share*float64(window)) {
			quiet = 0
		}
	}
	return time.Since(start), nil
}

// loadAPI runs clients keep-alive clients against url(i) for d.
func loadAPI(ctx context.Context, urlOf func(int) string, clients int, d time.Duration) (apiBenchRow, error) {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		next, errs, bytes atomic.Int64
		mu                sync.Mutex
		lat               []time.Duration
		wg                sync.WaitGroup
	)
	cpu0 := processCPU()
	end := time.Now().Add(d)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(end) && ctx.Err() == nil {
				i := int(next.Add(1))
				t0 := time.Now()
				resp, err := hc.Get(urlOf(i))
				if err != nil {
					errs.Add(1)
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				bytes.Add(n)
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	cpu := processCPU() - cpu0
	if len(lat) == 0 {
		return apiBenchRow{}, fmt.Errorf("bench api: no request answered (%d errors)", errs.Load())
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6 }
	return apiBenchRow{Clients: clients, Requests: int64(len(lat)), Errors: errs.Load(), PerSecond: float64(len(lat)) / d.Seconds(),
		P50ms: pct(0.50), P99ms: pct(0.99), AvgBytes: bytes.Load() / int64(len(lat)),
		CPUusPerRequest: float64(cpu.Microseconds()) / float64(len(lat))}, nil
}

func printAPIBench(w io.Writer, r *apiBenchResult) error {
	fmt.Fprintf(w, "%d people, %d golden customers, synced in %.1f s, idle %.1f s later; each run %s\n\n", r.People, r.Golden, r.SyncSecs, r.IdleWaitSecs, r.Durations)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "request\tclients\trequests/s\tp50 ms\tp99 ms\tCPU µs/req\tbytes\terrors\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.1f\t%.1f\t%.0f\t%d\t%d\t\n", row.Kind, row.Clients, row.PerSecond, row.P50ms, row.P99ms, row.CPUusPerRequest, row.AvgBytes, row.Errors)
	}
	return tw.Flush()
}
