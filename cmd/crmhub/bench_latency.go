package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/connectors/webhook"
	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/server"
)

// newBenchLatencyCmd is `crmhub bench latency`.
func newBenchLatencyCmd() *cobra.Command {
	var o latencyOpts
	cmd := &cobra.Command{
		Use:   "latency",
		Short: "Measure webhook change -> visible in GET /v1/customers/{id}",
		Long: `Start a hub on a temporary directory with one webhook connector (loopback only), create
--customers customers through it, then send signed events that change a customer's phone at
--rate per second for --duration (each customer has at most one change in flight), and poll
GET /v1/customers/{id} until each new phone shows. Prints p50/p95/p99/max of "webhook answered
202 (durable on Kafka) -> visible in the API" and the achieved rate.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := runLatencyBench(cmd.Context(), o)
			if err != nil {
				return err
			}
			return r.print(cmd.OutOrStdout(), o.json)
		},
	}
	cmd.Flags().IntVar(&o.rate, "rate", 1000, "changes per second to send")
	cmd.Flags().DurationVar(&o.duration, "duration", 10*time.Second, "how long to send")
	cmd.Flags().IntVar(&o.customers, "customers", 2000, "customers changed round-robin")
	cmd.Flags().BoolVar(&o.inProcess, "in-process", false, "run the webhook connector in the hub process instead of a plugin process")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as JSON")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long")
	return cmd
}

type latencyOpts struct {
	rate, customers int
	duration        time.Duration
	inProcess, json bool
	timeout         time.Duration
	selfCmd         []string // tests: how to start this binary as a plugin
}

type latencyResult struct {
	Sent          int     `json:"sent"`
	Seen          int     `json:"seen"`
	Rate          float64 `json:"achieved_per_second"`
	TargetRate    int     `json:"target_per_second"`
	P50ms         float64 `json:"p50_ms"`
	P95ms         float64 `json:"p95_ms"`
	P99ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	AcceptP99ms   float64 `json:"webhook_answer_p99_ms"`
	Plugins       string  `json:"plugins"`
	GoalP99Passed bool    `json:"p99_within_200ms"`
}

func (r latencyResult) print(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "webhook -> GET /v1/customers/{id}: %d changes sent, %d seen, %.0f/s achieved (target %d/s), connectors %s\n",
		r.Sent, r.Seen, r.Rate, r.TargetRate, r.Plugins)
	fmt.Fprintf(w, "latency: p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms  (webhook answer p99 %.1f ms; goal p99 <= 200 ms: %v)\n",
		r.P50ms, r.P95ms, r.P99ms, r.MaxMs, r.AcceptP99ms, r.GoalP99Passed)
	return nil
}

const latencySecret = "bench-latency-secret-0123456789"

const latencyMapping = `mapping: hooks_customers
version: 1
source: {system: hooks, entity: customers}
target: {entity: customer, schema: v1}
unknown_fields: ignore
fields:
  kind: '"person"'
  full_name: trim(name)
  emails[]: email(email)
  phones[]: phone(phone, "DE")
  updated_at: timestamp(updated_ms, "unixms")
`

// latencyHub is a hub with one webhook connector.
type latencyHub struct {
	srv     *server.Server
	api     string // http://host:port
	hook    string // the webhook URL
	client  *http.Client
	cleanup func()
}

func startLatencyHub(ctx context.Context, o latencyOpts) (*latencyHub, error) {
	dir, err := os.MkdirTemp("", "crmhub-bench-latency")
	if err != nil {
		return nil, err
	}
	h := &latencyHub{cleanup: func() { os.RemoveAll(dir) }}
	if err := os.MkdirAll(filepath.Join(dir, "mappings"), 0o755); err != nil {
		h.cleanup()
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "mappings", "hooks_customers.yaml"), []byte(latencyMapping), 0o644); err != nil {
		h.cleanup()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.cleanup()
		return nil, err
	}
	hookAddr := ln.Addr().String()
	ln.Close()
	cfgYAML := `data_dir: "` + filepath.Join(dir, "hub") + `"
http: {listen: "127.0.0.1:0"}
kafka: {brokers: [], embedded_listen: "127.0.0.1:0", topic_prefix: crmhub, partitions: 3}
store: {driver: sqlite, dsn: ""}
mappings: {dir: mappings}
auth: {enabled: false}
log: {level: warn}
identity: {default_region: DE}
connectors:
  - name: hooks
    plugin: webhook
    system: hooks
    poll_interval: 1ms   # Read itself waits for events: no extra sleep
    settings:
      listen: "` + hookAddr + `"
      path: /events
      secret: "` + latencySecret + `"
      entity: customers
      ack_timeout: 30s
`
	cfgPath := filepath.Join(dir, "crmhub.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o644); err != nil {
		h.cleanup()
		return nil, err
	}
	cfg, err := config.Parse(cfgPath, []byte(cfgYAML), func(string) (string, bool) { return "", false })
	if err != nil {
		h.cleanup()
		return nil, err
	}
	cfg.Plugins.InProcess = o.inProcess
	h.srv = server.New(server.Options{Config: cfg, Builtins: connectors.Builtins(), SelfCmd: o.selfCmd,
		Logger: newLogger(config.Log{Level: "warn"})})
	if err := h.srv.Start(ctx); err != nil {
		h.cleanup()
		return nil, err
	}
	prev := h.cleanup
	h.cleanup = func() { h.srv.Close(); prev() }
	h.api = "http://" + h.srv.HTTPAddr()
	h.hook = "http://" + hookAddr + "/events"
	// The connector starts after the hub: wait for its listener.
	for {
		c, err := net.DialTimeout("tcp", hookAddr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-ctx.Done():
			h.cleanup()
			return nil, fmt.Errorf("webhook listener %s: %w", hookAddr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	h.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	return h, nil
}

// send posts one signed event; it returns when the webhook answered.
func (h *latencyHub) send(ctx context.Context, eventID string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.hook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Crmhub-Signature", webhook.SignatureHeader(latencySecret, time.Now().Unix(), body))
	req.Header.Set("X-Crmhub-Event-Id", eventID)
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("webhook answered %d to event %s", resp.StatusCode, eventID)
	}
	return nil
}

func (h *latencyHub) get(ctx context.Context, u string, v any) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		_, _ = io.Copy(io.Discard, resp.Body)
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return false, fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return true, json.NewDecoder(resp.Body).Decode(v)
}

func latencyEvent(i int, phone string) []byte {
	b, _ := json.Marshal(map[string]any{"id": "W-" + strconv.Itoa(i), "name": "Bench Customer " + strconv.Itoa(i),
		"email": "bench-" + strconv.Itoa(i) + "@example.com", "phone": phone, "updated_ms": time.Now().UnixMilli()})
	return b
}

// phoneOf is customer i's n-th phone number: a valid Berlin number in
// E.164 (a subscriber number starting with 0 or 1 is not, and would be
// dead-lettered), unique per change.
func phoneOf(i, n int) string { return fmt.Sprintf("+4930%d%07d", 2+i%8, n%10_000_000) }

// inflight is one change waiting to show in the API.
type inflight struct {
	customer int
	phone    string
	accepted time.Time
}

func runLatencyBench(ctx context.Context, o latencyOpts) (*latencyResult, error) {
	if o.rate <= 0 || o.duration <= 0 || o.customers <= 0 {
		return nil, errors.New("bench latency: --rate, --duration and --customers must be positive")
	}
	// Bounded: at most a minute of sending and 200k changes.
	o.duration = min(o.duration, time.Minute)
	total := min(int(float64(o.rate)*o.duration.Seconds()), 200_000)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	h, err := startLatencyHub(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("bench latency: start hub: %w", err)
	}
	defer h.cleanup()

	// Create the customers and learn their golden ids.
	golden := make([]string, o.customers)
	if err := parallel(ctx, 32, o.customers, func(i int) error {
		// Numbers above the changes' range: no two customers share one, or
		// identity resolution would rightly merge them by phone.
		return h.send(ctx, fmt.Sprintf("create-%d", i), latencyEvent(i, phoneOf(i, total+1+i)))
	}); err != nil {
		return nil, fmt.Errorf("bench latency: create customers: %w", err)
	}
	if err := parallel(ctx, 8, o.customers, func(i int) error {
		for {
			var page struct {
				Items []hub.CustomerView `json:"items"`
			}
			ok, err := h.get(ctx, fmt.Sprintf("%s/v1/customers?system=hooks&source_id=W-%d", h.api, i), &page)
			if err != nil {
				return err
			}
			if ok && len(page.Items) == 1 {
				golden[i] = page.Items[0].ID
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("customer W-%d not visible: %w", i, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}); err != nil {
		return nil, fmt.Errorf("bench latency: wait for customers: %w", err)
	}

	var (
		mu       sync.Mutex
		pending  = map[int]inflight{}          // customer -> its change in flight
		free     = make(chan int, o.customers) // customers without a change in flight
		lat      []time.Duration
		answers  []time.Duration
		sendErr  error
		sent     int
		seenDone = make(chan struct{})
	)
	for i := range o.customers {
		free <- i
	}
	// Pollers: each takes the customers with a change in flight and looks.
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	var pw sync.WaitGroup
	const pollers = 8
	for p := range pollers {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for pollCtx.Err() == nil {
				mu.Lock()
				var mine []inflight
				for c, f := range pending {
					if c%pollers == p {
						mine = append(mine, f)
					}
				}
				mu.Unlock()
				if len(mine) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				for _, f := range mine {
					var v hub.CustomerView
					ok, err := h.get(pollCtx, h.api+"/v1/customers/"+golden[f.customer], &v)
					if err != nil || !ok || !slices.Contains(v.Customer.Phones, f.phone) {
						continue
					}
					d := time.Since(f.accepted)
					mu.Lock()
					delete(pending, f.customer)
					lat = append(lat, d)
					if len(lat) == total {
						close(seenDone)
					}
					mu.Unlock()
					free <- f.customer
				}
			}
		}()
	}
	// Senders: a ticker paces the starts; each change goes out on its own
	// goroutine (bounded), since the webhook answers after Kafka has it.
	start := time.Now()
	interval := time.Second / time.Duration(o.rate)
	sem := make(chan struct{}, 256)
	var sw sync.WaitGroup
	for n := 0; n < total && ctx.Err() == nil; n++ {
		if d := time.Until(start.Add(time.Duration(n) * interval)); d > 0 {
			time.Sleep(d)
		}
		var c int
		select {
		case c = <-free:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		sw.Add(1)
		sent++
		go func(c, n int) {
			defer sw.Done()
			defer func() { <-sem }()
			phone := phoneOf(c, n+1)
			t0 := time.Now()
			err := h.send(ctx, fmt.Sprintf("change-%d", n), latencyEvent(c, phone))
			accepted := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if sendErr == nil {
					sendErr = err
				}
				return
			}
			answers = append(answers, accepted.Sub(t0))
			pending[c] = inflight{customer: c, phone: phone, accepted: accepted}
		}(c, n)
	}
	sw.Wait()
	sendTime := time.Since(start)
	if sendErr != nil {
		return nil, fmt.Errorf("bench latency: %w", sendErr)
	}
	select {
	case <-seenDone:
	case <-ctx.Done():
	}
	stopPoll()
	pw.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) < total {
		return nil, fmt.Errorf("bench latency: %d of %d changes became visible before the timeout", len(lat), total)
	}
	slices.Sort(lat)
	slices.Sort(answers)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	pct := func(s []time.Duration, p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	r := &latencyResult{Sent: sent, Seen: len(lat), Rate: float64(sent) / sendTime.Seconds(), TargetRate: o.rate,
		P50ms: ms(pct(lat, 0.50)), P95ms: ms(pct(lat, 0.95)), P99ms: ms(pct(lat, 0.99)), MaxMs: ms(lat[len(lat)-1]),
		AcceptP99ms: ms(pct(answers, 0.99)), Plugins: "plugin processes"}
	if o.inProcess {
		r.Plugins = "in-process"
	}
	r.GoalP99Passed = r.P99ms <= 200
	return r, nil
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, workers, n int, f func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					cancel(err)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
