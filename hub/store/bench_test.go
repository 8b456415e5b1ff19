package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
)

// benchPerson appends the four canonical records of person i: three
// customers (an ERP record, a CRM contact matching it by e-mail and cross
// reference, a service-desk record matching by phone) and an order. People
// are distinct customers: those sharing a postal code (i apart by a
// multiple of 5000) live at different house numbers, so fuzzy matching
// may queue them for review but never merges them; with one house number
// for all of them a store of N people held clusters of up to N/5000
// people, re-resolved whole at every new member. For i < 5000 (the 20,000
// record benchmarks) the data is what it always was.
func benchPerson(out []hub.Envelope, i int) []hub.Envelope {
	email := fmt.Sprintf("p%d@example.de", i)
	phone := fmt.Sprintf("+4930%07d", i%10000000)
	erp := fmt.Sprintf("K%d", i)
	return append(out,
		cust("erp", erp, 1, hub.Customer{FamilyName: fmt.Sprintf("Name%c%c", 'a'+i%26, 'a'+i/26%26), GivenName: "G", Emails: []string{email},
			Addresses: []hub.Address{{Street: fmt.Sprintf("Hauptstr. %d", i%200+200*(i/5000)), PostalCode: fmt.Sprintf("%05d", 10000+i%5000), Country: "DE"}}}),
		cust("crm", fmt.Sprintf("c%d", i), 2, hub.Customer{FullName: "G Name", Emails: []string{email}, Phones: []string{phone},
			ExternalIDs: []hub.Ref{{System: "erp", ID: erp}}}),
		cust("svc", fmt.Sprintf("s%d", i), 3, hub.Customer{FamilyName: "Name", Phones: []string{phone}}),
		ev(hub.EntityOrder, "erp", "orders", fmt.Sprintf("A%d", i), 1, hub.Order{OrderNumber: fmt.Sprintf("A%d", i),
			CustomerRef: hub.Ref{System: "erp", ID: erp}, Total: &hub.Money{Amount: "10.00", Currency: "EUR"}}),
	)
}

// benchEvents makes n canonical records, three of every four customers
// (see benchPerson).
func benchEvents(n int) []hub.Envelope {
	out := make([]hub.Envelope, 0, n+4)
	for i := 0; len(out) < n; i++ {
		out = benchPerson(out, i)
	}
	return out[:n]
}

func benchApply(b *testing.B, open opener, opts Options) {
	batch := benchBatch()
	s := open(b, opts)
	evs := benchEvents(b.N)
	ctx := context.Background()
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	for i := 0; i < len(evs); i += batch {
		if _, err := s.Apply(ctx, evs[i:min(i+batch, len(evs))]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/record")
}

// cpuTime is the CPU time (user and system) the process used so far. On a
// shared machine it moves less than the wall clock; for PostgreSQL it
// leaves out the server's share.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkApplySQLite(b *testing.B)   { benchApply(b, MustOpenSQLite, Options{}) }
func BenchmarkApplyPostgres(b *testing.B) { benchApply(b, MustOpenPostgres, Options{}) }

var fuzzyOpts = Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}}

func BenchmarkApplySQLiteFuzzy(b *testing.B)   { benchApply(b, MustOpenSQLite, fuzzyOpts) }
func BenchmarkApplyPostgresFuzzy(b *testing.B) { benchApply(b, MustOpenPostgres, fuzzyOpts) }

// benchBatch is the Apply batch size, CRMHUB_BENCH_BATCH or 500.
func benchBatch() int {
	if n, err := strconv.Atoi(os.Getenv("CRMHUB_BENCH_BATCH")); err == nil && n > 0 {
		return n
	}
	return 500
}

// BenchmarkApplyScale fills a store with CRMHUB_BENCH_CUSTOMERS people
// (benchPerson: three customer records and an order each, so one golden
// customer per person) and reports the throughput of the whole run, of
// its last tenth (the rate at that store size), CPU time per record, peak
// Go heap and peak RSS. It runs once whatever b.N is and is skipped unless
// the variable is set:
//
//	CRMHUB_BENCH_CUSTOMERS=1000000 go test -run '^$' -bench 'ApplyScale/SQLiteFuzzy' -benchtime 1x -timeout 3h ./hub/store
//
// The throughput of each tenth is logged, so one run shows how the rate
// moves as the store grows. CRMHUB_BENCH_STORE (a SQLite file) and
// CRMHUB_BENCH_POSTGRES (a DSN, its search_path a schema of its own) keep
// the store: a later run resumes after the people already in it, so a
// store filled once to 1M can be measured again (on a copy) by raising the
// target a little.
func BenchmarkApplyScale(b *testing.B) {
	people, _ := strconv.Atoi(os.Getenv("CRMHUB_BENCH_CUSTOMERS"))
	if people <= 0 {
		b.Skip("set CRMHUB_BENCH_CUSTOMERS=N (people, 4 records each) to fill a store of N golden customers")
	}
	keep := func(driver, env string, fresh opener) opener {
		dsn := os.Getenv(env)
		if dsn == "" {
			return fresh
		}
		return func(tb testing.TB, opts Options) *Store { return mustOpen(tb, driver, dsn, opts) }
	}
	sqlite := keep(DriverSQLite, "CRMHUB_BENCH_STORE", MustOpenSQLite)
	pg := keep(DriverPostgres, "CRMHUB_BENCH_POSTGRES", MustOpenPostgres)
	for _, c := range []struct {
		name string
		open opener
		opts Options
	}{
		{"SQLiteFuzzy", sqlite, fuzzyOpts},
		{"PostgresFuzzy", pg, fuzzyOpts},
		{"SQLite", sqlite, Options{}},
		{"Postgres", pg, Options{}},
	} {
		b.Run(c.name, func(b *testing.B) { benchScale(b, c.open, c.opts, people) })
	}
}

func benchScale(b *testing.B, open opener, opts Options, people int) {
	per := max(benchBatch()/4, 1) // people per batch
	s := open(b, opts)
	ctx := context.Background()
	// A kept store resumes after the people it holds (one ERP record each).
	var from int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM records WHERE system = 'erp' AND entity = 'customer'`).Scan(&from); err != nil {
		b.Fatal(err)
	}
	if from >= people {
		b.Skipf("the store holds %d people already (target %d)", from, people)
	}
	var (
		evs       []hub.Envelope
		peakHeap  uint64
		peakAnon  uint64
		total     int
		phase     int
		phaseRecs int
	)
	sample := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	phaseStart, phaseCPU := start, cpu
	var lastRate float64
	for p := from; p < people; p += per {
		evs = evs[:0]
		for i := p; i < min(p+per, people); i++ {
			evs = benchPerson(evs, i)
		}
		if _, err := s.Apply(ctx, evs); err != nil {
			b.Fatal(err)
		}
		total += len(evs)
		phaseRecs += len(evs)
		rtmetrics.Read(sample)
		peakHeap = max(peakHeap, sample[0].Value.Uint64())
		if (p-from)/per%20 == 0 {
			peakAnon = max(peakAnon, procStatus("RssAnon"))
		}
		if next := (p + per - from) * 10 / (people - from); next > phase || p+per >= people {
			el := time.Since(phaseStart)
			lastRate = float64(phaseRecs) / el.Seconds()
			b.Logf("people %8d..%8d: %7.0f records/s, %5.1f cpu-µs/record, heap %4d MB, rss-anon %4d MB", from+phase*(people-from)/10, min(p+per, people),
				lastRate, float64((cpuTime()-phaseCPU).Microseconds())/float64(phaseRecs), sample[0].Value.Uint64()>>20, procStatus("RssAnon")>>20)
			phase, phaseRecs, phaseStart, phaseCPU = next, 0, time.Now(), cpuTime()
		}
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(total)/el.Seconds(), "records/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(total), "cpu-µs/record")
	b.ReportMetric(lastRate, "end-records/s")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(peakAnon)/(1<<20), "peak-rss-anon-MB")
	b.ReportMetric(float64(procStatus("VmHWM"))/(1<<20), "peak-rss-MB")
	if !s.pg {
		var size int64
		matches, _ := filepath.Glob(storePath(b, s) + "*")
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil {
				size += fi.Size()
			}
		}
		b.ReportMetric(float64(size)/(1<<20), "db-MB")
	}
}

// storePath is the SQLite file of s.
func storePath(tb testing.TB, s *Store) string {
	var seq int
	var name, file string
	if err := s.db.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		tb.Fatal(err)
	}
	return file
}

// procStatus reads a size field (kB) of /proc/self/status in bytes, 0 where
// there is none.
func procStatus(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
