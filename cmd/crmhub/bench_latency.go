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
	"github.com/crmhub/crmhub/internal/app/server"
)

// newBenchLatencyCmd is `crmhub bench latency`.
func newBenchLatencyCmd() *cobra.Command {
	var o latencyOpts
	cmd := &cobra.Command{
		Use:   "latency",
		Short: "Measure webhook change -> visible in GET /v1/customers/{id}",
		Long: `Start a hub on a temporary directory with one webhook connector (loopback only), create
--customers customers through it, then send signed events that change a customer's phone at
--rate per second for --duration (each customer has at most one change in flight), and watch
until each new phone shows in GET /v1/customers/{id}.

A watcher follows GET /v1/changes (the golden change feed, written in the same transaction as
the customer): a change is visible from the moment the feed shows an entry for its customer
written after the change was sent, and every one is then confirmed by GET /v1/customers/{id}
showing the new phone. Prints p50/p95/p99/max of "POST sent -> visible", the same until the
confirming GET returned (which includes the watcher's own queue of GETs), the webhook's answer
time (202: durable on Kafka and checkpointed), and the achieved rate.`,
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
	cmd.Flags().IntVar(&o.confirmEvery, "confirm-every", 10, "confirm every n-th change with GET /v1/customers/{id} (1: every one; each GET costs the hub about what applying a change does)")
	cmd.Flags().BoolVar(&o.inProcess, "in-process", false, "run the webhook connector in the hub process instead of a plugin process")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as JSON")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up after this long")
	cmd.Flags().StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the hub process while changes are sent to this file (go tool pprof)")
	return cmd
}

type latencyOpts struct {
	rate, customers int
	confirmEvery    int
	duration        time.Duration
	inProcess, json bool
	timeout         time.Duration
	cpuProfile      string
	selfCmd         []string // tests: how to start this binary as a plugin
}

type latencyResult struct {
	Sent      int `json:"sent"`
	Seen      int `json:"seen"`      // visible in the change feed
	Confirmed int `json:"confirmed"` // of those, confirmed by GET
	// ConfirmedEarly counts confirming GETs that returned before their
	// change showed in the feed: 0 unless the bench itself is wrong.
	ConfirmedEarly int     `json:"confirmed_before_visible"`
	Rate           float64 `json:"achieved_per_second"`
	TargetRate     int     `json:"target_per_second"`
	P50ms          float64 `json:"p50_ms"` // POST sent -> visible
	P95ms          float64 `json:"p95_ms"`
	P99ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	ConfirmP50ms   float64 `json:"confirmed_p50_ms"` // POST sent -> confirming GET returned
	ConfirmP99ms   float64 `json:"confirmed_p99_ms"`
	AcceptP50ms    float64 `json:"webhook_answer_p50_ms"`
	AcceptP99ms    float64 `json:"webhook_answer_p99_ms"`
	Plugins        string  `json:"plugins"`
	GoalP99Passed  bool    `json:"p99_within_200ms"`
}

func (r latencyResult) print(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "webhook -> GET /v1/customers/{id}: %d changes sent, %d seen, %.0f/s achieved (target %d/s), connectors %s\n",
		r.Sent, r.Seen, r.Rate, r.TargetRate, r.Plugins)
	fmt.Fprintf(w, "sent -> visible: p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms  (goal p99 <= 200 ms: %v)\n",
		r.P50ms, r.P95ms, r.P99ms, r.MaxMs, r.GoalP99Passed)
	fmt.Fprintf(w, "sent -> confirming GET returned (%d confirmed): p50 %.1f ms  p99 %.1f ms; webhook answer (202): p50 %.1f ms  p99 %.1f ms\n",
		r.Confirmed, r.ConfirmP50ms, r.ConfirmP99ms, r.AcceptP50ms, r.AcceptP99ms)
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
	h.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.customers + 64}}
	return h, nil
}

// send posts one signed event and returns once the webhook took it. A 503
// ("not yet durable, retry": the hub did not confirm within ack_timeout,
// as on a loaded host before its first records are on Kafka) is retried
// with the same event id, as the webhook's senders are told to; a retry
// of an event made durable meanwhile is answered 200.
func (h *latencyHub) send(ctx context.Context, eventID string, body []byte) error {
	for {
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
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted, http.StatusOK:
			return nil
		case http.StatusServiceUnavailable:
			select {
			case <-ctx.Done():
				return fmt.Errorf("webhook answered 503 to event %s until: %w", eventID, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		default:
			return fmt.Errorf("webhook answered %d to event %s", resp.StatusCode, eventID)
		}
	}
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

// feedEnd pages through the change feed and returns its last cursor.
func (h *latencyHub) feedEnd(ctx context.Context) (int64, error) {
	var cursor int64
	for {
		var page struct {
			Items []hub.GoldenChange `json:"items"`
		}
		if _, err := h.get(ctx, fmt.Sprintf("%s/v1/changes?since=%d&limit=200", h.api, cursor), &page); err != nil {
			return 0, err
		}
		if len(page.Items) == 0 {
			return cursor, nil
		}
		cursor = page.Items[len(page.Items)-1].Seq
	}
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

// inflight is a change not yet visible.
type inflight struct {
	n    int       // the change's number
	sent time.Time // POST issued
}

// checkJob asks a checker to GET a customer: to confirm a change the feed
// showed, or to probe one it has not shown for long.
type checkJob struct {
	customer, n int
	sent        time.Time
	confirm     bool
}

func runLatencyBench(ctx context.Context, o latencyOpts) (*latencyResult, error) {
	if o.rate <= 0 || o.duration <= 0 || o.customers <= 0 || o.confirmEvery <= 0 {
		return nil, errors.New("bench latency: --rate, --duration, --customers and --confirm-every must be positive")
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
	stopProfile, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return nil, err
	}
	defer stopProfile()

	var (
		mu       sync.Mutex
		pending  = map[int]inflight{}          // customer -> its change not yet visible
		phoneN   = map[string]int{}            // phone -> the change that set it
		free     = make(chan int, o.customers) // customers without a change in flight
		lat      []time.Duration               // sent -> visible
		confirms []time.Duration               // sent -> confirmed by GET
		visible  = map[int]time.Duration{}     // change -> sent -> visible, for those to confirm
		early    int                           // confirmations that returned before their change was visible
		answers  []time.Duration
		sendErr  error
		sent     int
		seenDone = make(chan struct{})
	)
	for i := range o.customers {
		free <- i
	}
	// A watcher follows the change feed (GET /v1/changes): a change is
	// visible once the feed shows an entry for its customer written after
	// it was sent (the feed is written in the same transaction as the
	// customer, so a GET then shows the change), and its customer is free
	// for the next change. Checkers then confirm every --confirm-every-th
	// one with GET /v1/customers/{id}: the phone it set, or a later one of
	// that customer, must show. Looking only where something changed keeps
	// the watching from taking the CPU the hub needs, as polling every
	// pending customer did; confirming off the customer's path, and a
	// sample, keeps the bench's own GETs from holding the rate down.
	cursor, err := h.feedEnd(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench latency: change feed: %w", err)
	}
	byGolden := make(map[string]int, o.customers)
	for i, g := range golden {
		byGolden[g] = i
	}
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	jobs := make(chan checkJob, total+o.customers)
	toConfirm := (total + o.confirmEvery - 1) / o.confirmEvery // changes 0, k, 2k, ...
	done := false                                              // under mu: seenDone closed
	probing := make([]bool, o.customers)                       // under mu: a probe of the pending change is queued
	maybeDone := func() {                                      // with mu held
		if len(lat) == total && len(confirms) == toConfirm && !done {
			done = true
			close(seenDone)
		}
	}
	// visibleAt records c's pending change as visible at t and frees c;
	// with mu held.
	visibleAt := func(c int, f inflight, t time.Time) {
		delete(pending, c)
		lat = append(lat, t.Sub(f.sent))
		if f.n%o.confirmEvery == 0 {
			visible[f.n] = t.Sub(f.sent)
			jobs <- checkJob{customer: c, n: f.n, sent: f.sent, confirm: true}
		}
		free <- c
		maybeDone()
	}
	var pw sync.WaitGroup
	pw.Add(1)
	go func() {
		defer pw.Done()
		lastSweep := time.Now()
		for pollCtx.Err() == nil {
			var page struct {
				Items []hub.GoldenChange `json:"items"`
			}
			ok, err := h.get(pollCtx, fmt.Sprintf("%s/v1/changes?since=%d&limit=200", h.api, cursor), &page)
			if err == nil && ok {
				now := time.Now()
				mu.Lock()
				for _, ch := range page.Items {
					if c, ok := byGolden[ch.GoldenID]; ok {
						if f, ok := pending[c]; ok && !ch.At.Before(f.sent) {
							visibleAt(c, f, now)
						}
					}
					cursor = ch.Seq
				}
				// Insurance against a change the feed does not name (none is
				// expected): probe what waits for long with a GET.
				if now.Sub(lastSweep) > time.Second {
					lastSweep = now
					for c, f := range pending {
						if now.Sub(f.sent) > time.Second && !probing[c] {
							probing[c] = true
							jobs <- checkJob{customer: c, n: f.n, sent: f.sent}
						}
					}
				}
				mu.Unlock()
				if len(page.Items) == 200 {
					continue
				}
			}
			select {
			case <-pollCtx.Done():
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	const checkers = 16
	for range checkers {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for {
				var j checkJob
				select {
				case j = <-jobs:
				case <-pollCtx.Done():
					return
				}
				var v hub.CustomerView
				ok, err := h.get(pollCtx, h.api+"/v1/customers/"+golden[j.customer], &v)
				now := time.Now()
				mu.Lock()
				shows := false
				for _, p := range v.Customer.Phones {
					if n, known := phoneN[p]; known && n >= j.n {
						shows = true
					}
				}
				switch {
				case err != nil || !ok || !shows:
					if j.confirm {
						// Visible in the feed but not in the API: look again;
						// the run fails if it never shows.
						jobs <- j
					} else {
						probing[j.customer] = false
					}
				case j.confirm:
					confirms = append(confirms, now.Sub(j.sent))
					if now.Sub(j.sent) < visible[j.n] {
						early++
					}
				default: // a probe found it before the feed did
					probing[j.customer] = false
					if f, ok := pending[j.customer]; ok && f.n == j.n {
						visibleAt(j.customer, f, now) // and queues its confirmation
					}
				}
				maybeDone()
				mu.Unlock()
			}
		}()
	}
	// Senders: a ticker paces the starts; each change goes out on its own
	// goroutine, since the webhook answers only once the change is durable
	// and its position saved. Customers bound them: one change in flight
	// each, until it is visible.
	start := time.Now()
	interval := time.Second / time.Duration(o.rate)
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
		sw.Add(1)
		sent++
		go func(c, n int) {
			defer sw.Done()
			phone := phoneOf(c, n+1)
			body := latencyEvent(c, phone)
			t0 := time.Now()
			mu.Lock()
			pending[c] = inflight{n: n, sent: t0}
			phoneN[phone] = n
			mu.Unlock()
			err := h.send(ctx, fmt.Sprintf("change-%d", n), body)
			answered := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if sendErr == nil {
					sendErr = err
				}
				return
			}
			answers = append(answers, answered.Sub(t0))
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
	if len(lat) < total || len(confirms) < toConfirm {
		return nil, fmt.Errorf("bench latency: of %d changes %d became visible in the change feed before the timeout, and %d of %d to confirm were confirmed by GET",
			total, len(lat), len(confirms), toConfirm)
	}
	slices.Sort(lat)
	slices.Sort(confirms)
	slices.Sort(answers)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	pct := func(s []time.Duration, p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	r := &latencyResult{Sent: sent, Seen: len(lat), Confirmed: len(confirms), ConfirmedEarly: early, Rate: float64(sent) / sendTime.Seconds(), TargetRate: o.rate,
		P50ms: ms(pct(lat, 0.50)), P95ms: ms(pct(lat, 0.95)), P99ms: ms(pct(lat, 0.99)), MaxMs: ms(lat[len(lat)-1]),
		ConfirmP50ms: ms(pct(confirms, 0.50)), ConfirmP99ms: ms(pct(confirms, 0.99)),
		AcceptP50ms: ms(pct(answers, 0.50)), AcceptP99ms: ms(pct(answers, 0.99)), Plugins: "plugin processes"}
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
