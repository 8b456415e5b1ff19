package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkPages reads 100k contacts (CRMHUB_BENCH_ROWS) in pages of 500
// from a local httptest API with bearer auth, page-number pagination and a
// total_pages field. The pages are rendered before the timer starts, so
// the figure is the connector's: HTTP round trips, JSON record splitting,
// id and updated_at extraction, dedup fingerprints and positions; with
// state_dir also the state log and the state file written at the pass's
// end.
func BenchmarkPages(b *testing.B) {
	url, n := benchAPI(b)
	for _, withState := range []bool{false, true} {
		name := "memory"
		if withState {
			name = "state_dir"
		}
		b.Run(name, func(b *testing.B) {
			total := 0
			for b.Loop() {
				cfg := benchCfg(url, true)
				if withState {
					cfg["state_dir"] = b.TempDir()
				}
				got, _ := benchPass(b, cfg, nil)
				if got != n {
					b.Fatalf("read %d, want %d", got, n)
				}
				total += got
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkRestartUnchanged is a restart of a source without since_param
// over the unchanged collection of BenchmarkPages: with state_dir it reads
// every page and emits nothing (without, it would emit every record).
func BenchmarkRestartUnchanged(b *testing.B) {
	url, n := benchAPI(b)
	cfg := benchCfg(url, false)
	dir := b.TempDir()
	cfg["state_dir"] = dir
	_, pos := benchPass(b, cfg, nil)
	read := 0
	for b.Loop() {
		got, _ := benchPass(b, cfg, pos)
		if got != 0 {
			b.Fatalf("restart emitted %d records, want none", got)
		}
		read += n
	}
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "records-read/s")
	files, _ := os.ReadDir(dir)
	size := int64(0)
	for _, f := range files {
		if fi, err := f.Info(); err == nil {
			size += fi.Size()
		}
	}
	b.ReportMetric(float64(size), "state-bytes")
}

func benchCfg(url string, since bool) map[string]any {
	ent := map[string]any{"name": "contacts", "path": "/api/contacts", "records": "data", "id": "id", "updated_at": "updated_at",
		"pagination": map[string]any{"type": "page", "size_param": "per_page", "size": benchPageSize, "total_pages_path": "meta.total_pages"}}
	if since {
		ent["since_param"] = "updated_since"
	}
	return map[string]any{"base_url": url, "rate_limit": "100000", "auth": map[string]any{"type": "bearer", "token": "t0k"}, "entities": []any{ent}}
}

// benchPass opens a source at pos, reads until caught up, acknowledges
// the last record and returns the number of records and its position.
func benchPass(b *testing.B, cfg map[string]any, pos []byte) (int, []byte) {
	ctx := context.Background()
	s := &Source{}
	if err := s.Configure(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	if err := s.Open(ctx, pos); err != nil {
		b.Fatal(err)
	}
	defer s.Teardown(ctx)
	got := 0
	for {
		recs, err := s.Read(ctx, benchPageSize)
		if err != nil {
			b.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		got += len(recs)
		pos = recs[len(recs)-1].Position
	}
	s.Ack(ctx, pos)
	return got, pos
}

const benchPageSize = 500

// benchAPI serves n contacts (CRMHUB_BENCH_ROWS, default 100k).
func benchAPI(b *testing.B) (string, int) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("CRMHUB_BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	const size = benchPageSize
	pages := (n + size - 1) / size
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	all := make([]map[string]any, n)
	for i := range all {
		all[i] = map[string]any{
			"id": fmt.Sprintf("c%07d", i), "first_name": "Anna", "last_name": fmt.Sprintf("Customer %d", i),
			"email": fmt.Sprintf("c%d@example.com", i), "phone": "+49 30 1234567", "company": "Example GmbH",
			"address":    map[string]any{"street": "Hauptstr. 1", "postcode": "10115", "city": "Berlin", "country": "DE"},
			"updated_at": base.Add(time.Duration(i) * time.Second).Format(time.RFC3339),
		}
	}
	render := func(recs []map[string]any) []byte {
		pages := max(1, (len(recs)+size-1)/size)
		b, _ := json.Marshal(map[string]any{"data": recs, "meta": map[string]any{"total_pages": pages}})
		return b
	}
	// The full pass is served from pages rendered up front; the
	// incremental pass after it (updated_since) is small and rendered on
	// the fly, as a real API filters it.
	body := make([][]byte, pages)
	for p := range body {
		page := all[p*size : min((p+1)*size, n)]
		b, _ := json.Marshal(map[string]any{"data": page, "meta": map[string]any{"total_pages": pages}})
		body[p] = b
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0k" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		q := r.URL.Query()
		p, _ := strconv.Atoi(q.Get("page"))
		w.Header().Set("Content-Type", "application/json")
		if since := q.Get("updated_since"); since != "" {
			var recs []map[string]any
			for _, c := range all {
				if c["updated_at"].(string) >= since {
					recs = append(recs, c)
				}
			}
			start := min((p-1)*size, len(recs))
			recs = recs[start:min(start+size, len(recs))]
			w.Write(render(recs))
			return
		}
		if p < 1 || p > pages {
			w.Write(render(nil))
			return
		}
		w.Write(body[p-1])
	}))
	b.Cleanup(srv.Close)
	return srv.URL, n
}
