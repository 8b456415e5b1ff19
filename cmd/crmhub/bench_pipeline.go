package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
	"gopkg.in/yaml.v3"

	"github.com/crmhub/crmhub/hub"
)

// newBenchPipelineCmd is `crmhub bench pipeline`: the connector tier alone,
// a PostgreSQL table to a Kafka topic, measured from outside the process
// the way one measures another tool doing the same job.
func newBenchPipelineCmd() *cobra.Command {
	var o pipelineOpts
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Measure the connector tier: a PostgreSQL table -> mapping + validation -> Kafka topic",
		Long: `Create (or reuse) a PostgreSQL table of --rows customer-like rows of 19 columns (names, address,
e-mail, phones, dates, amounts) in schema --schema, start an embedded Kafka-protocol broker (kfake,
one partition), then run this crmhub binary as ` + "`crmhub run --role connectors`" + ` with the sql connector
and a mapping onto customer.v1 (validation included) and count every message back on the topic with
a Kafka client. Prints rows/s (from the hub's start to the last message), the CPU seconds of the hub
process and its plugin processes (from /proc), their peak RSS (VmHWM; summed over the processes it
counts the pages they share, the crmhub binary's among them, once in each), the peak of their summed
PSS (shared pages counted once, sampled every 500 ms) and the time from the hub's start to the first
record on the topic. Linux only (/proc).

--no-mapping maps only the key fields (a near pass-through), to show the mapping's share.

--role all runs the whole hub on the same job instead (connectors, applier into a SQLite store, API):
the run then ends when every record is applied, and /metrics is scraped every --scrape-every
meanwhile; each scrape that does not answer 200 with the hub's metrics is counted as failed.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := runPipelineBench(cmd.Context(), o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return r.print(cmd.OutOrStdout(), o.json)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.rows, "rows", 200_000, "rows in the source table (the issue's run: 1000000)")
	f.StringVar(&o.dsn, "dsn", "", "PostgreSQL DSN (default $CRMHUB_POSTGRES_DSN, else postgres://postgres@127.0.0.1:5432/test)")
	f.StringVar(&o.schema, "schema", "crmhub_bench", "schema holding the generated table (created if missing; a table of the same row count is reused)")
	f.IntVar(&o.batch, "batch-size", 1000, "the sql connector's batch_size")
	f.BoolVar(&o.noMapping, "no-mapping", false, "map only the key fields instead of the full customer mapping")
	f.BoolVar(&o.inProcess, "in-process", false, "run the sql connector in the hub process (plugins.in_process) instead of a plugin process")
	f.StringVar(&o.bin, "bin", "", "crmhub binary to measure (default: this one)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "fetch a CPU profile of the hub process over the run from its /debug/pprof and write it to this file")
	f.IntVar(&o.profileSeconds, "cpuprofile-seconds", 20, "length of the --cpuprofile profile, from the hub's start")
	f.StringVar(&o.keepDir, "dir", "", "work directory (config, hub log, store); default a temporary one, removed after")
	f.StringVar(&o.logLevel, "log-level", "warn", "the hub's log level (its log is hub.log in --dir)")
	f.BoolVar(&o.json, "json", false, "print the result as JSON")
	f.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	f.StringVar(&o.role, "role", "connectors", "the hub's role: connectors (table to topic) or all (also apply into a SQLite store and serve the API, scraping /metrics)")
	f.DurationVar(&o.scrapeEvery, "scrape-every", time.Second, "with --role all: how often /metrics is scraped")
	f.IntVar(&o.sqliteCacheMB, "sqlite-cache-mb", 0, "with --role all: the store's store.sqlite_cache_mb (0: the default)")
	f.IntVar(&o.sqliteMmapMB, "sqlite-mmap-mb", 0, "with --role all: the store's store.sqlite_mmap_mb (0: the default, -1: none)")
	f.BoolVar(&o.pprof, "pprof", false, "serve /debug/pprof on the hub's listener (http.pprof), to take heap profiles during the run")
	f.StringVar(&o.compression, "compression", "", "the hub's kafka.compression (none, gzip, snappy, lz4, zstd; empty: the hub's default)")
	f.IntVar(&o.memoryMB, "memory-mb", 0, "with --role all: the hub's memory_mb budget (0: the default, -1: none)")
	return cmd
}

type pipelineOpts struct {
	rows, batch      int
	dsn, schema, bin string
	cpuProfile       string
	noMapping, json  bool
	inProcess        bool
	timeout          time.Duration
	keepDir          string
	profileSeconds   int
	logLevel         string
	role             string
	scrapeEvery      time.Duration
	sqliteCacheMB    int
	sqliteMmapMB     int
	memoryMB         int
	pprof            bool
	compression      string
}

type pipelineResult struct {
	Rows          int     `json:"rows"`
	Messages      int     `json:"messages"`
	DeadLetters   int     `json:"dead_letters"`
	Mapping       string  `json:"mapping"`
	Connector     string  `json:"connector"`
	Seconds       float64 `json:"seconds"`
	RowsPerSec    float64 `json:"rows_per_second"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	CPUPerMRows   float64 `json:"cpu_seconds_per_million_rows"`
	HubCPUSeconds float64 `json:"hub_cpu_seconds"`
	PeakRSSMB     float64 `json:"peak_rss_mb"`
	HubPeakRSSMB  float64 `json:"hub_peak_rss_mb"`
	// PeakPSSMB is the highest sum of the processes' proportional set
	// sizes seen by the sampler: pages two processes share (the crmhub
	// binary's, mapped by the hub and by each built-in plugin it
	// re-executes) counted once, which PeakRSSMB counts in each. Sampled
	// every 500 ms, so a shorter spike can be missed.
	PeakPSSMB     float64 `json:"peak_pss_mb,omitempty"`
	FirstRecordMS float64 `json:"first_record_ms"`
	ReadyMS       float64 `json:"ready_ms"`
	Processes     int     `json:"processes"`
	ReadBack      int     `json:"messages_read_back"`
	Keys          int     `json:"distinct_keys"`
	Role          string  `json:"role"`
	// With --role all: from the hub's start to the last record applied,
	// and the /metrics scrapes taken meanwhile.
	AppliedSeconds float64 `json:"applied_seconds,omitempty"`
	Scrapes        int     `json:"scrapes,omitempty"`
	ScrapeFailures int     `json:"scrape_failures,omitempty"`
	ScrapeError    string  `json:"first_scrape_error,omitempty"`
	ScrapeMaxMS    float64 `json:"slowest_scrape_ms,omitempty"`
	// The rest of the job on the same cores, from the hub's start to the
	// last record on the topic: this bench process (the kfake broker, the
	// topic counter, the sampler) and the PostgreSQL backends serving the
	// connector's queries (when PostgreSQL runs on this host; 0 if not).
	// On a machine of N cores rows/s cannot exceed N divided by the sum of
	// all of them per row.
	BenchCPUSeconds float64 `json:"bench_process_cpu_seconds"`
	PGCPUSeconds    float64 `json:"postgres_backend_cpu_seconds"`
	AllCPUPerMRows  float64 `json:"all_cpu_seconds_per_million_rows"`
}

// pssNote is the together-figure of several processes, where sampled.
func (r pipelineResult) pssNote() string {
	if r.Processes < 2 || r.PeakPSSMB == 0 {
		return ""
	}
	return fmt.Sprintf("; together %.0f MB PSS, shared pages once", r.PeakPSSMB)
}

func (r pipelineResult) print(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "rows %d -> %d messages (%d dead letters; %d read back, %d distinct keys), mapping %s, connector %s\n",
		r.Rows, r.Messages, r.DeadLetters, r.ReadBack, r.Keys, r.Mapping, r.Connector)
	fmt.Fprintf(w, "%.0f rows/s (%.1f s), %.1f CPU-s (%.1f per 1M rows; hub process %.1f), peak RSS %.0f MB (hub %.0f MB, %d processes%s), first record %.0f ms (hub ready at %.0f ms)\n",
		r.RowsPerSec, r.Seconds, r.CPUSeconds, r.CPUPerMRows, r.HubCPUSeconds, r.PeakRSSMB, r.HubPeakRSSMB, r.Processes, r.pssNote(), r.FirstRecordMS, r.ReadyMS)
	fmt.Fprintf(w, "the rest of the job on the same cores: this bench process (kfake broker, counter) %.1f CPU-s, PostgreSQL backends %.1f CPU-s; everything %.1f CPU-s per 1M rows\n",
		r.BenchCPUSeconds, r.PGCPUSeconds, r.AllCPUPerMRows)
	if r.Role == "all" {
		fmt.Fprintf(w, "role all (CPU and RSS above include applying): every record applied at %.1f s; /metrics scraped %d times, %d failed (slowest %.0f ms)%s\n",
			r.AppliedSeconds, r.Scrapes, r.ScrapeFailures, r.ScrapeMaxMS, firstScrapeError(r.ScrapeError))
	}
	return nil
}

func firstScrapeError(e string) string {
	if e == "" {
		return ""
	}
	return "; first failure: " + e
}

// benchCustomerTable is the generated table: 19 columns of what a
// customer table of an ERP holds.
const benchCustomerTable = `CREATE TABLE %[1]s AS
SELECT i AS id,
       CASE WHEN i %% 5 = 0 THEN 'F' ELSE 'P' END AS kind,
       (ARRAY['anna','bernd','clara','dieter','eva','frank','gisela','hans','ines','jens','karin','lutz','maria','norbert','olga','paul'])[1 + i %% 16] AS first_name,
       (ARRAY['müller','schmidt','schneider','fischer','weber','meyer','wagner','becker','schulz','hoffmann','koch','richter','klein','wolf','neumann','zimmermann'])[1 + (i / 16) %% 16] AS last_name,
       CASE WHEN i %% 5 = 0 THEN 'Firma  ' || i || '   GmbH' END AS company,
       'kunde' || i || '@example' || (i %% 97) || '.de' AS email,
       '030 ' || (2000000 + (i * 7919) %% 7000000) AS phone,
       CASE WHEN i %% 3 = 0 THEN '0171 ' || (1000000 + (i * 104729) %% 8000000) END AS mobile,
       (ARRAY['Hauptstraße','Bahnhofstr.','Gartenweg','Schulstraße','Am Markt','Lindenallee'])[1 + i %% 6] || ' ' || (1 + i %% 200) AS street,
       lpad(((i * 37) %% 99999)::text, 5, '0') AS zip,
       (ARRAY['berlin','hamburg','münchen','köln','frankfurt am main','stuttgart','düsseldorf','leipzig'])[1 + i %% 8] AS city,
       (ARRAY['DE','Deutschland','de','Germany','AT','CH'])[1 + i %% 6] AS country,
       date '1940-01-01' + (i %% 25000)::int AS birth_date,
       (ARRAY['de','en','DE'])[1 + i %% 3] AS language,
       CASE WHEN i %% 10 = 0 THEN 'I' ELSE 'A' END AS status,
       ((i %% 1000) * 100 + (i %% 100) / 100.0)::numeric(12,2) AS credit_limit,
       CASE WHEN i %% 4 = 0 THEN NULL ELSE 'EUR' END AS currency,
       timestamp '2015-01-01' + i * interval '1 minute' AS created_at,
       timestamp '2024-01-01' + i * interval '1 second' AS updated_at
  FROM generate_series(1::bigint, %[2]d) AS i`

const benchMappingFull = `mapping: bench_customers
version: 1
source: {system: bench, entity: customers}
target: {entity: customer, schema: v1}
unknown_fields: ignore
tables:
  kind: {P: person, F: organization}
  status: {A: active, I: inactive}
fields:
  kind: lookup("kind", kind)
  organization_name: 'kind == "F" ? collapse(company) : nil'
  given_name: 'kind == "P" ? title(first_name) : nil'
  family_name: 'kind == "P" ? title(last_name) : nil'
  full_name: 'kind == "P" ? join(" ", title(first_name), title(last_name)) : nil'
  birth_date: 'kind == "P" ? date(birth_date, "2006-01-02") : nil'
  emails[]: email(email)
  phones[]: phone(phone, coalesce(country(country), "DE"))
  phones[+1]: phone(mobile, "DE")
  addresses[0].type: '"billing"'
  addresses[0].street: collapse(street)
  addresses[0].postal_code: trim(zip)
  addresses[0].city: title(city)
  addresses[0].country: country(country)
  language: lower(language)
  status: lookup("status", status)
  credit_limit: money(credit_limit, coalesce(currency, "EUR"))
  created_at: timestamp(created_at, "2006-01-02T15:04:05Z07:00")
  updated_at: timestamp(updated_at, "2006-01-02T15:04:05Z07:00")
`

const benchMappingKeys = `mapping: bench_customers
version: 1
source: {system: bench, entity: customers}
target: {entity: customer, schema: v1}
unknown_fields: ignore
tables:
  kind: {P: person, F: organization}
fields:
  kind: lookup("kind", kind)
  organization_name: company
  family_name: last_name
`

func runPipelineBench(ctx context.Context, o pipelineOpts, logw io.Writer) (*pipelineResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.rows <= 0 {
		return nil, fmt.Errorf("bench pipeline: --rows %d: want at least 1", o.rows)
	}
	switch o.role {
	case "":
		o.role = "connectors"
	case "connectors", "all":
	default:
		return nil, fmt.Errorf("bench pipeline: --role %q: want connectors or all", o.role)
	}
	if o.scrapeEvery <= 0 {
		o.scrapeEvery = time.Second
	}
	if o.dsn == "" {
		o.dsn = os.Getenv("CRMHUB_POSTGRES_DSN")
	}
	if o.dsn == "" {
		o.dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	if o.bin == "" {
		b, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("bench pipeline: find this binary: %w", err)
		}
		o.bin = b
	}
	table, err := ensureBenchTable(ctx, o.dsn, o.schema, o.rows, logw)
	if err != nil {
		return nil, err
	}

	dir := o.keepDir
	if dir == "" {
		d, err := os.MkdirTemp("", "crmhub-bench-pipeline")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	res := &pipelineResult{Rows: o.rows, Mapping: "customer.v1, 19 fields, validated", Connector: "plugin process", Role: o.role}
	if o.noMapping {
		res.Mapping = "key fields only, validated"
	}
	if o.inProcess {
		res.Connector = "in-process"
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1), kfake.Ports(0))
	if err != nil {
		return nil, fmt.Errorf("bench pipeline: start broker: %w", err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]
	httpAddr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	cfgPath, err := writePipelineConfig(dir, broker, httpAddr, table, o)
	if err != nil {
		return nil, err
	}
	topics := hub.Topics{Prefix: benchTopicPrefix}

	// The topics exist before the hub starts, so the counter's reader
	// needs no retry loop of its own.
	counter := newTopicCounter(broker, []string{topics.Canonical("customer"), topics.DeadLetter()})
	if err := counter.ensureTopics(ctx); err != nil {
		return nil, err
	}
	counterCtx, stopCounter := context.WithCancel(ctx)
	defer stopCounter()
	var cwg sync.WaitGroup
	counter.start(counterCtx, &cwg)

	hubLog, err := os.Create(filepath.Join(dir, "hub.log"))
	if err != nil {
		return nil, err
	}
	defer hubLog.Close()
	cmd := exec.CommandContext(ctx, o.bin, "run", "--config", cfgPath, "--role", o.role)
	cmd.Stdout, cmd.Stderr = hubLog, hubLog
	cmd.Env = os.Environ()
	pg := newPGBackends(o.dsn, table)
	defer pg.close()
	benchTicks0 := procTicks(os.Getpid())
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench pipeline: start %s: %w", o.bin, err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	defer stop()
	hubTail := func() string {
		b, _ := os.ReadFile(hubLog.Name())
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		return string(b)
	}

	var profile chan error
	if o.cpuProfile != "" {
		profile = make(chan error, 1)
		go func() { profile <- fetchProfile(ctx, httpAddr, o.cpuProfile, o.profileSeconds) }()
	}

	// readyAt is written once, before isReady is closed.
	var readyAt time.Time
	isReady := make(chan struct{})
	go func() {
		for ctx.Err() == nil {
			resp, err := http.Get("http://" + httpAddr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					readyAt = time.Now()
					close(isReady)
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	tree := newProcTree(pid)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	// The tree is read every 500 ms, not on every tick: VmHWM is a high
	// water mark and the CPU times are read once more at the end, so
	// sampling more often only adds the bench's own CPU to the cores the
	// job runs on (a process that exits early loses at most its last
	// 500 ms of CPU).
	ticks := 0
	sample := func() {
		if ticks++; ticks%5 == 0 {
			tree.sample()
			pg.sample(ctx)
		}
	}
	var sc *scraper
	if o.role == "all" {
		sc = &scraper{url: "http://" + httpAddr + "/metrics"}
		scrapeCtx, stopScrape := context.WithCancel(ctx)
		defer stopScrape()
		go sc.run(scrapeCtx, o.scrapeEvery, isReady)
	}
	done := counter.doneCh(o.rows)
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		case err := <-exited:
			stopped = true
			return nil, fmt.Errorf("bench pipeline: hub exited before the last record (%v); its log:\n%s", err, hubTail())
		case <-ctx.Done():
			return nil, fmt.Errorf("bench pipeline: %d of %d records on the topic when giving up: %w; the hub's log:\n%s",
				counter.total(), o.rows, ctx.Err(), hubTail())
		case <-tick.C:
			sample()
		}
	}
	tree.sample()
	pg.sample(ctx)
	res.BenchCPUSeconds = float64(procTicks(os.Getpid())-benchTicks0) / 100
	res.PGCPUSeconds = pg.cpuSeconds()
	if sc != nil {
		// The topic holds every record; wait until the applier has taken
		// each (applied or skipped as already applied).
		want, _ := counter.counts()
		for applied := false; !applied; {
			select {
			case err := <-exited:
				stopped = true
				return nil, fmt.Errorf("bench pipeline: hub exited before applying every record (%v); its log:\n%s", err, hubTail())
			case <-ctx.Done():
				return nil, fmt.Errorf("bench pipeline: %.0f of %d records applied when giving up: %w", sc.processed(), want, ctx.Err())
			case <-tick.C:
				sample()
				applied = sc.processed() >= float64(want)
			}
		}
		res.AppliedSeconds = time.Since(start).Seconds()
		res.Scrapes, res.ScrapeFailures, res.ScrapeError, res.ScrapeMaxMS = sc.result()
	}
	last, first := counter.times()
	res.Seconds = last.Sub(start).Seconds()
	res.FirstRecordMS = float64(first.Sub(start).Microseconds()) / 1000
	res.Messages, res.DeadLetters = counter.counts()
	select {
	case <-isReady:
		res.ReadyMS = float64(readyAt.Sub(start).Microseconds()) / 1000
	default:
	}
	res.RowsPerSec = float64(o.rows) / res.Seconds
	res.CPUSeconds, res.HubCPUSeconds = tree.cpuSeconds()
	res.CPUPerMRows = res.CPUSeconds * 1e6 / float64(o.rows)
	res.AllCPUPerMRows = (res.CPUSeconds + res.BenchCPUSeconds + res.PGCPUSeconds) * 1e6 / float64(o.rows)
	res.PeakRSSMB, res.HubPeakRSSMB = tree.peakRSSMB()
	res.PeakPSSMB = float64(tree.peakPSSKB) / 1024
	res.Processes = len(tree.procs)
	if profile != nil {
		if err := <-profile; err != nil {
			fmt.Fprintf(logw, "cpu profile: %v\n", err)
		}
	}
	stop()
	stopCounter()
	cwg.Wait()
	if res.ReadBack, res.Keys, err = counter.readBack(ctx); err != nil {
		return nil, fmt.Errorf("bench pipeline: %w", err)
	}
	if res.Keys != o.rows {
		return nil, fmt.Errorf("bench pipeline: %d distinct keys on the topics, want one per row (%d)", res.Keys, o.rows)
	}
	return res, nil
}

const benchTopicPrefix = "crmhubbench"

// writePipelineConfig writes the hub's config and mapping into dir: the
// connectors role's job, table to topic, on broker.
func writePipelineConfig(dir, broker, httpAddr, table string, o pipelineOpts) (string, error) {
	for _, sub := range []string{"mappings", "plugins", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return "", err
		}
	}
	mappingText := benchMappingFull
	if o.noMapping {
		mappingText = benchMappingKeys
	}
	if err := os.WriteFile(filepath.Join(dir, "mappings", "bench_customers.yaml"), []byte(mappingText), 0o644); err != nil {
		return "", err
	}
	if o.logLevel == "" {
		o.logLevel = "warn"
	}
	kafkaCfg := map[string]any{"brokers": []string{broker}, "topic_prefix": benchTopicPrefix, "partitions": 1}
	if o.compression != "" {
		kafkaCfg["compression"] = o.compression
	}
	cfg := map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"http":     map[string]any{"listen": httpAddr, "pprof": o.cpuProfile != "" || o.pprof},
		"auth":     map[string]any{"enabled": false},
		"kafka":    kafkaCfg,
		"store": map[string]any{"driver": "sqlite", "sqlite_cache_mb": o.sqliteCacheMB,
			"sqlite_mmap_mb": o.sqliteMmapMB},
		"memory_mb": o.memoryMB,
		"mappings":  map[string]any{"dir": filepath.Join(dir, "mappings")},
		"plugins":   map[string]any{"dir": filepath.Join(dir, "plugins"), "in_process": o.inProcess},
		"log":       map[string]any{"level": o.logLevel},
		"connectors": []any{map[string]any{
			"name": "bench", "plugin": "sql", "system": "bench", "poll_interval": "1s", "batch_size": o.batch,
			"settings": map[string]any{"driver": "postgres", "dsn": o.dsn, "batch_size": o.batch, "timezone": "UTC",
				"entities": []any{map[string]any{"name": "customers", "table": table, "key": "id", "cursor": "updated_at"}}},
		}},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "crmhub.yaml")
	return path, os.WriteFile(path, b, 0o600)
}

// ensureBenchTable creates schema.customers_<rows> unless it exists with
// that many rows, and returns its qualified name.
func ensureBenchTable(ctx context.Context, dsn, schema string, rows int, logw io.Writer) (string, error) {
	for _, r := range schema {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return "", fmt.Errorf("bench pipeline: --schema %q: use lower-case letters, digits and _", schema)
		}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", fmt.Errorf("bench pipeline: open %s: %w", "postgres", err)
	}
	defer db.Close()
	table := fmt.Sprintf("%s.customers_%d", schema, rows)
	var n int
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n)
	if err == nil && n == rows {
		return table, nil
	}
	fmt.Fprintf(logw, "creating %s (%d rows)...\n", table, rows)
	t0 := time.Now()
	for _, q := range []string{
		"CREATE SCHEMA IF NOT EXISTS " + schema,
		"DROP TABLE IF EXISTS " + table,
		fmt.Sprintf(benchCustomerTable, table, rows),
		fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (id)", table),
		fmt.Sprintf("CREATE INDEX ON %s (updated_at, id)", table),
		"ANALYZE " + table,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return "", fmt.Errorf("bench pipeline: create table %s: %w", table, err)
		}
	}
	fmt.Fprintf(logw, "created in %.1f s\n", time.Since(t0).Seconds())
	return table, nil
}

func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// fetchProfile fetches a CPU profile of the hub's first seconds of work
// (pprof cannot be asked for "until done"; the start is where a sync
// spends like it does later, plus the connection set-up).
func fetchProfile(ctx context.Context, addr, path string, seconds int) error {
	// Wait for the listener.
	for i := 0; i < 100; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/profile?seconds="+strconv.Itoa(seconds), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// topicCounter follows the topics' end offsets (one partition each):
// cheap enough to poll every few milliseconds, so the first and the last
// record are timed without a consumer's fetch back-off in the figures.
// readBack then reads every message to confirm the count.
type topicCounter struct {
	broker string
	topics []string
	client *kafka.Client

	mu          sync.Mutex
	n           []int
	first, last time.Time
	waiters     []counterWaiter
}

type counterWaiter struct {
	n  int
	ch chan struct{}
}

func newTopicCounter(broker string, topics []string) *topicCounter {
	return &topicCounter{broker: broker, topics: topics, n: make([]int, len(topics)),
		client: &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second}}
}

func (c *topicCounter) ensureTopics(ctx context.Context) error {
	conn, err := kafka.DialContext(ctx, "tcp", c.broker)
	if err != nil {
		return fmt.Errorf("bench pipeline: dial broker: %w", err)
	}
	defer conn.Close()
	var cfgs []kafka.TopicConfig
	for _, t := range c.topics {
		cfgs = append(cfgs, kafka.TopicConfig{Topic: t, NumPartitions: 1, ReplicationFactor: 1})
	}
	if err := conn.CreateTopics(cfgs...); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("bench pipeline: create topics: %w", err)
	}
	return nil
}

func (c *topicCounter) start(ctx context.Context, wg *sync.WaitGroup) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range c.topics {
		req.Topics[t] = []kafka.OffsetRequest{kafka.LastOffsetOf(0)}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			resp, err := c.client.ListOffsets(ctx, req)
			if err == nil {
				n := make([]int, len(c.topics))
				for i, t := range c.topics {
					if ps := resp.Topics[t]; len(ps) == 1 && ps[0].Error == nil {
						n[i] = int(ps[0].LastOffset)
					}
				}
				c.set(n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
}

func (c *topicCounter) set(n []int) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	total, before := 0, 0
	for i := range n {
		before += c.n[i]
		total += n[i]
	}
	if total == before {
		return
	}
	if c.first.IsZero() {
		c.first = now
	}
	c.last = now
	copy(c.n, n)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if total >= w.n {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// doneCh is closed once n messages are on the topics.
func (c *topicCounter) doneCh(n int) <-chan struct{} {
	ch := make(chan struct{})
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	for _, k := range c.n {
		total += k
	}
	if total >= n {
		close(ch)
	} else {
		c.waiters = append(c.waiters, counterWaiter{n: n, ch: ch})
	}
	return ch
}

func (c *topicCounter) total() int {
	m, d := c.counts()
	return m + d
}

// counts is the messages on the canonical topic and the dead letters.
func (c *topicCounter) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[0], c.n[1]
}

func (c *topicCounter) times() (last, first time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.first
}

// readBack reads every message of the topics with a consumer and returns
// how many there are and how many distinct keys they have.
func (c *topicCounter) readBack(ctx context.Context) (msgs, keys int, err error) {
	seen := map[string]struct{}{}
	for i, t := range c.topics {
		want := c.n[i]
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{c.broker}, Topic: t, Partition: 0,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond}) // small fetches: one of 16 MB took longer than the reader waits for a batch under -race
		for got := 0; got < want; got++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return msgs, len(seen), fmt.Errorf("read back %s: %d of %d messages: %w", t, got, want, err)
			}
			seen[string(m.Key)] = struct{}{}
			msgs++
		}
		r.Close()
	}
	return msgs, len(seen), nil
}

// procTree follows a process and its descendants through /proc, keeping
// each one's last CPU time and peak RSS (a plugin process may exit before
// the end).
type procTree struct {
	root  int
	procs map[int]*procStat
	// peakPSSKB is the highest sum of the tree's PSS in one sample.
	peakPSSKB int64
}

type procStat struct {
	cpuTicks int64
	hwmKB    int64
}

func newProcTree(root int) *procTree {
	return &procTree{root: root, procs: map[int]*procStat{}}
}

// sample reads every process under root once. It walks down from root
// through /proc/PID/task/TID/children rather than reading every process
// on the machine: on a busy host the full scan, ten times a second, cost
// the bench process about as much CPU as a fifth of the broker's, taken
// from the cores the measured job runs on.
func (t *procTree) sample() {
	queue := []int{t.root}
	var pss int64
	defer func() { t.peakPSSKB = max(t.peakPSSKB, pss) }()
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		_, fields, ok := readStat(pid)
		if !ok {
			continue
		}
		ut, _ := strconv.ParseInt(fields[11], 10, 64)
		st, _ := strconv.ParseInt(fields[12], 10, 64)
		p := t.procs[pid]
		if p == nil {
			p = &procStat{}
			t.procs[pid] = p
		}
		p.cpuTicks = ut + st
		if kb := readHWM(pid); kb > p.hwmKB {
			p.hwmKB = kb
		}
		pss += readStatusKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
		queue = append(queue, childPIDs(pid)...)
	}
}

// childPIDs lists pid's children from each of its threads' children file
// (Linux 3.5+); a child is listed under the thread that started it.
func childPIDs(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var kids []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, w := range strings.Fields(string(b)) {
			if k, err := strconv.Atoi(w); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

// cpuSeconds assumes USER_HZ of 100, what Linux reports on every common
// architecture.
func (t *procTree) cpuSeconds() (all, hub float64) {
	for pid, p := range t.procs {
		all += float64(p.cpuTicks) / 100
		if pid == t.root {
			hub = float64(p.cpuTicks) / 100
		}
	}
	return all, hub
}

// peakRSSMB is the sum of every process's peak (an upper bound of the
// tree's peak) and the hub process's own.
func (t *procTree) peakRSSMB() (sum, hub float64) {
	for pid, p := range t.procs {
		sum += float64(p.hwmKB) / 1024
		if pid == t.root {
			hub = float64(p.hwmKB) / 1024
		}
	}
	return sum, hub
}

// readStat returns /proc/pid/stat's fields after the command name (state
// first).
func readStat(pid int) (string, []string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", nil, false
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 13 {
		return "", nil, false
	}
	return s[:i], fields, true
}

func readHWM(pid int) int64 {
	return readStatusKB(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:")
}

// readStatusKB reads the "key: N kB" line of a /proc file (0 when it
// cannot be read).
func readStatusKB(path, key string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// procTicks is a process's user and system CPU time in ticks of 1/100 s
// (0 when it cannot be read).
func procTicks(pid int) int64 {
	_, fields, ok := readStat(pid)
	if !ok {
		return 0
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return ut + st
}

// pgBackends follows the CPU time of the PostgreSQL backends whose last
// query names the bench table (the connector's reads and its row count;
// the name without its schema, which the connector quotes), read from /proc: it counts
// only when PostgreSQL runs on this host (under another user the pids are
// still readable; in a container or on another host they are not there).
type pgBackends struct {
	db    *sql.DB
	table string
	ticks map[int]int64
}

func newPGBackends(dsn, table string) *pgBackends {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		db = nil // CPU of the backends is then reported as 0
	}
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		table = table[i+1:]
	}
	return &pgBackends{db: db, table: table, ticks: map[int]int64{}}
}

func (p *pgBackends) sample(ctx context.Context) {
	if p.db == nil {
		return
	}
	rows, err := p.db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND position($1 in query) > 0`, p.table)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			if t := procTicks(pid); t > 0 {
				p.ticks[pid] = t
			}
		}
	}
}

func (p *pgBackends) cpuSeconds() float64 {
	var n int64
	for _, t := range p.ticks {
		n += t
	}
	return float64(n) / 100
}

func (p *pgBackends) close() {
	if p.db != nil {
		p.db.Close()
	}
}
